// Entry point: asks the shell for the settings, then loads React and the app (a chunk of its own),
// so the first view's data is on its way while the bundle is parsed and rendered.
import { preloadSettings } from './api';
import './styles.css';

preloadSettings();
void import('./boot');
