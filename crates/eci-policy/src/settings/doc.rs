//! A settings file as a JSON document that keeps what it does not understand: other desktop
//! settings and unknown keys inside the ECI section survive a save, value and order.
//!
//! Output format: 2-space indented JSON (serde_json's pretty printer) with a trailing newline.
//! Keys, their order, strings and integers come back as they were read; only whitespace and the
//! spelling of non-integer numbers (`1e2` → `100.0`) may change.

use serde_json::{Map, Value};

use super::{
    AuditSettings, CommandListSettings, EciGuardSection, EciSection, HostAccessSettings, ImageList,
    MountKey, SocketMount, ECI_KEY, SUPPORTED_VERSIONS, VERSION_KEY,
};
use crate::validate::{read_settings, Diagnostic};

/// The whole settings file. Built by [`SettingsDoc::parse`] (or
/// [`read_settings`](crate::validate::read_settings)) or empty by [`SettingsDoc::new`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsDoc {
    root: Map<String, Value>,
}

impl SettingsDoc {
    /// An empty document, for a settings file that does not exist yet.
    pub fn new() -> SettingsDoc {
        SettingsDoc::default()
    }

    /// Reads a document whatever its ECI section says: fails only when the text is not one JSON
    /// object (syntax, repeated keys, another type), so the app can open a file with a broken
    /// section and let it be fixed. Use [`crate::validate::parse_settings`] to enforce it.
    pub fn parse(text: &str) -> Result<SettingsDoc, Vec<Diagnostic>> {
        read_settings(text).map(|reading| reading.doc)
    }

    pub(crate) fn from_root(root: Map<String, Value>) -> SettingsDoc {
        SettingsDoc { root }
    }

    /// Every top-level key, in file order.
    pub fn root(&self) -> &Map<String, Value> {
        &self.root
    }

    /// The spelling of the socket-mount key this file uses (`iechorSocketMount` when it has none;
    /// the first in file order when it wrongly has both).
    pub fn mount_key(&self) -> MountKey {
        self.root
            .get(ECI_KEY)
            .and_then(Value::as_object)
            .and_then(|eci| eci.keys().find_map(|k| MountKey::from_key(k)))
            .unwrap_or_default()
    }

    /// Writes `eci` into the document. Only the keys [`EciSection`] models are touched: a field
    /// that is `None` removes its key, a field that is set replaces the value in place (keeping its
    /// position) or is appended. Unknown keys at every level stay. The socket-mount key keeps the
    /// file's spelling; if the file wrongly has both spellings, the first is written and the other
    /// removed. A document without `configurationFileVersion` gets it first, so a new file is
    /// valid.
    pub fn set_eci(&mut self, eci: &EciSection) {
        if !self.root.contains_key(VERSION_KEY) {
            let mut root = Map::with_capacity(self.root.len() + 1);
            root.insert(VERSION_KEY.to_owned(), Value::from(SUPPORTED_VERSIONS[0]));
            root.extend(std::mem::take(&mut self.root));
            self.root = root;
        }
        let mount_key = self.mount_key();
        let section = child_object(&mut self.root, ECI_KEY);
        set_or_remove(section, "locked", eci.locked.map(Value::Bool));
        set_or_remove(section, "value", eci.value.map(Value::Bool));
        for other in MountKey::ALL.into_iter().filter(|k| *k != mount_key) {
            section.shift_remove(other.as_str());
        }
        match &eci.socket_mount {
            None => {
                section.shift_remove(mount_key.as_str());
            }
            Some(mount) => write_mount(child_object(section, mount_key.as_str()), mount),
        }
        match &eci.eci_guard {
            None => {
                section.shift_remove("eciGuard");
            }
            Some(ext) => write_extension(child_object(section, "eciGuard"), ext),
        }
    }

    /// The document as file text (see the module documentation for the format).
    pub fn to_json_string(&self) -> String {
        let mut text = format!("{:#}", Value::Object(self.root.clone()));
        text.push('\n');
        text
    }
}

fn write_mount(obj: &mut Map<String, Value>, mount: &SocketMount) {
    match &mount.image_list {
        None => {
            obj.shift_remove("imageList");
        }
        Some(list) => write_image_list(child_object(obj, "imageList"), list),
    }
    match &mount.command_list {
        None => {
            obj.shift_remove("commandList");
        }
        Some(list) => write_command_list(child_object(obj, "commandList"), list),
    }
}

fn write_extension(obj: &mut Map<String, Value>, ext: &EciGuardSection) {
    match &ext.host_access {
        None => {
            obj.shift_remove("hostAccess");
        }
        Some(host) => write_host_access(child_object(obj, "hostAccess"), host),
    }
    match &ext.audit {
        None => {
            obj.shift_remove("audit");
        }
        Some(audit) => write_audit(child_object(obj, "audit"), audit),
    }
}

fn write_host_access(obj: &mut Map<String, Value>, host: &HostAccessSettings) {
    set_or_remove(obj, "images", host.images.as_deref().map(strings));
}

fn write_audit(obj: &mut Map<String, Value>, audit: &AuditSettings) {
    set_or_remove(obj, "socketMounts", audit.socket_mounts.map(Value::Bool));
    set_or_remove(obj, "commands", audit.commands.map(Value::Bool));
    set_or_remove(obj, "hostAccess", audit.host_access.map(Value::Bool));
}

fn write_image_list(obj: &mut Map<String, Value>, list: &ImageList) {
    set_or_remove(obj, "images", list.images.as_deref().map(strings));
    set_or_remove(
        obj,
        "allowDerivedImages",
        list.allow_derived_images.map(Value::Bool),
    );
}

fn write_command_list(obj: &mut Map<String, Value>, list: &CommandListSettings) {
    set_or_remove(obj, "type", list.kind.map(|k| Value::from(k.as_str())));
    set_or_remove(obj, "commands", list.commands.as_deref().map(strings));
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

fn set_or_remove(obj: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(value) => {
            obj.insert(key.to_owned(), value);
        }
        None => {
            // shift_remove keeps the order of the keys after it; remove would swap the last in.
            obj.shift_remove(key);
        }
    }
}

/// The object at `key`, created (appended) if absent and replaced if it holds another type.
fn child_object<'m>(obj: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let slot = obj.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(map) => map,
        _ => unreachable!("replaced by an object just above"),
    }
}
