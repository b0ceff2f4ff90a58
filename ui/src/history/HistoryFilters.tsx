// The History's filter form: kind, outcome, image, command, time range and free text.

import { COMMANDS } from '../rules';
import { EMPTY_FORM, type FilterForm } from './filter';
import { OutcomeFilter } from './OutcomeFilter';

export function HistoryFilters({ form, onChange }: { form: FilterForm; onChange: (edit: (f: FilterForm) => FilterForm) => void }) {
  const field = <K extends keyof FilterForm>(key: K) => ({
    value: form[key],
    onChange: (e: { target: { value: string } }) => onChange((f) => ({ ...f, [key]: e.target.value })),
  });
  return (
    <form className="filters" role="search" aria-label="Filter the history" onSubmit={(e) => e.preventDefault()}>
      <label>
        Kind
        <select data-testid="filter-kind" {...field('kind')}>
          <option value="">any</option>
          <option value="socket_mount">socket mount</option>
          <option value="command">command</option>
          <option value="host_access">host access</option>
          <option value="invalid_request">invalid request</option>
        </select>
      </label>
      <OutcomeFilter value={form.outcome} onChange={(outcome) => onChange((f) => ({ ...f, outcome }))} />
      <label>
        Image
        <input type="search" data-testid="filter-image" {...field('image')} />
      </label>
      <label>
        Command
        <input type="search" data-testid="filter-command" list="history-commands" {...field('command')} />
      </label>
      <label>
        Since
        <input type="datetime-local" step="1" data-testid="filter-since" {...field('since')} />
      </label>
      <label>
        Until
        <input type="datetime-local" step="1" data-testid="filter-until" {...field('until')} />
      </label>
      <label className="grow">
        Text
        <input type="search" data-testid="filter-text" placeholder="reason, path, image, container…" {...field('text')} />
      </label>
      <button type="button" onClick={() => onChange(() => EMPTY_FORM)}>
        Reset
      </button>
      <datalist id="history-commands">
        {COMMANDS.map((c) => (
          <option key={c} value={c} />
        ))}
      </datalist>
    </form>
  );
}
