//! The command vocabulary of the command list: the names `docker --help` prints, the six wildcard
//! groups of the seed, and the names the seed says cannot be enforced.
//!
//! The route table (`routes`) attributes every Engine API endpoint to these names; the validator
//! checks settings against them; the command decision matches list entries against a route.

use std::fmt;

/// A wildcard group of the command list (`container*`, …): every `docker <group> …` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    Container,
    Image,
    Volume,
    Network,
    Build,
    System,
}

impl Group {
    pub const ALL: [Group; 6] = [
        Group::Container,
        Group::Image,
        Group::Volume,
        Group::Network,
        Group::Build,
        Group::System,
    ];

    /// The name as written before the `*` in a settings file.
    pub fn name(self) -> &'static str {
        match self {
            Group::Container => "container",
            Group::Image => "image",
            Group::Volume => "volume",
            Group::Network => "network",
            Group::Build => "build",
            Group::System => "system",
        }
    }

    /// The wildcard as written in a settings file, e.g. `container*`.
    pub fn wildcard(self) -> &'static str {
        match self {
            Group::Container => "container*",
            Group::Image => "image*",
            Group::Volume => "volume*",
            Group::Network => "network*",
            Group::Build => "build*",
            Group::System => "system*",
        }
    }

    pub fn from_wildcard(s: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.wildcard() == s)
    }

    /// The management command whose subcommands make up this group (`builder` for `build*`).
    pub fn management_command(self) -> &'static str {
        match self {
            Group::Build => "builder",
            g => g.name(),
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wildcard())
    }
}

/// Top-level commands of `docker --help` that reach the engine, in the order the CLI prints them.
/// Management commands that have a wildcard group (`container`, `image`, …) are listed too and
/// mean the same as their group.
pub const COMMANDS: &[&str] = &[
    // Common commands
    "run",
    "exec",
    "ps",
    "build",
    "pull",
    "push",
    "images",
    "login",
    "search",
    "version",
    "info",
    // Management commands
    "builder",
    "checkpoint",
    "config",
    "container",
    "image",
    "network",
    "node",
    "plugin",
    "secret",
    "service",
    "stack",
    "swarm",
    "system",
    "volume",
    // Commands
    "attach",
    "commit",
    "cp",
    "create",
    "diff",
    "events",
    "export",
    "history",
    "import",
    "inspect",
    "kill",
    "load",
    "logs",
    "pause",
    "port",
    "rename",
    "restart",
    "rm",
    "rmi",
    "save",
    "start",
    "stats",
    "stop",
    "tag",
    "top",
    "unpause",
    "update",
    "wait",
];

/// Commands the seed lists as not supported in the command list, with the seed's description.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    ("compose", "iEchor compose"),
    ("dev", "iEchor dev environments"),
    ("extension", "Manages iEchor extensions"),
    ("feedback", "Send feedback to iEchor"),
    ("init", "Creates iEchor-related starter files"),
    ("manifest", "Manages iEchor image manifests"),
    ("plugins", "Manages plugins"),
    ("sbom", "View Software Bill of Materials (SBOM)"),
    ("scan", "iEchor Scan"),
    ("scout", "iEchor Scout"),
    ("trust", "Manage trust on iEchor images"),
];

/// Commands of `docker --help` that never reach the engine, so a list entry naming them could
/// never match a request.
pub const CLIENT_ONLY: &[&str] = &["context", "logout", "buildx"];

/// One parsed command-list entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CommandEntry {
    /// A top-level command name (`push`); a management command with a group is stored as its group.
    Name(&'static str),
    /// A wildcard group (`image*`).
    Group(Group),
}

/// Why a command-list entry is not accepted. [`CommandError::ignorable`] ones are names the
/// enforcer cannot enforce: a settings file holding them is still enforced, without them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error(
        "command \"{name}\" ({what}) is not supported in the command list and cannot be enforced"
    )]
    Unsupported { name: String, what: &'static str },
    #[error("command \"{0}\" runs only in the client and never reaches the engine, so it cannot be enforced")]
    ClientOnly(String),
    #[error("\"{0}\" is not a command wildcard; the wildcards are container*, image*, volume*, network*, build*, system*")]
    UnknownWildcard(String),
    #[error("unknown command \"{0}\"; valid commands are the names of `docker --help` ({list}) and the wildcards container*, image*, volume*, network*, build*, system*", list = COMMANDS.join(", "))]
    Unknown(String),
}

impl CommandError {
    /// Names a real command the enforcer cannot enforce (the seed's unsupported list, client-only
    /// commands): Docker Desktop accepts them in its files, so they are warned about and left
    /// out, never a reason to refuse the whole file.
    pub fn ignorable(&self) -> bool {
        matches!(
            self,
            CommandError::Unsupported { .. } | CommandError::ClientOnly(_)
        )
    }
}

impl CommandEntry {
    /// Parses one entry exactly as written (names are case-sensitive, like the CLI's).
    pub fn parse(s: &str) -> Result<CommandEntry, CommandError> {
        if s.contains('*') {
            return Group::from_wildcard(s)
                .map(CommandEntry::Group)
                .ok_or_else(|| CommandError::UnknownWildcard(s.to_owned()));
        }
        if let Some((name, what)) = UNSUPPORTED.iter().find(|(n, _)| *n == s) {
            return Err(CommandError::Unsupported {
                name: (*name).to_owned(),
                what,
            });
        }
        if CLIENT_ONLY.contains(&s) {
            return Err(CommandError::ClientOnly(s.to_owned()));
        }
        if let Some(g) = Group::ALL.into_iter().find(|g| g.management_command() == s) {
            return Ok(CommandEntry::Group(g));
        }
        COMMANDS
            .iter()
            .find(|c| **c == s)
            .map(|c| CommandEntry::Name(c))
            .ok_or_else(|| CommandError::Unknown(s.to_owned()))
    }

    /// The canonical spelling, used for duplicate detection and display.
    pub fn as_str(&self) -> &'static str {
        match self {
            CommandEntry::Name(n) => n,
            CommandEntry::Group(g) => g.wildcard(),
        }
    }
}

impl fmt::Display for CommandEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_groups_and_management_aliases() {
        assert_eq!(CommandEntry::parse("push"), Ok(CommandEntry::Name("push")));
        assert_eq!(
            CommandEntry::parse("image*"),
            Ok(CommandEntry::Group(Group::Image))
        );
        assert_eq!(
            CommandEntry::parse("container"),
            Ok(CommandEntry::Group(Group::Container))
        );
        assert_eq!(
            CommandEntry::parse("builder"),
            Ok(CommandEntry::Group(Group::Build))
        );
        assert_eq!(
            CommandEntry::parse("plugin"),
            Ok(CommandEntry::Name("plugin"))
        );
    }

    #[test]
    fn every_unsupported_name_is_refused_with_why() {
        for (name, _) in UNSUPPORTED {
            let err = CommandEntry::parse(name).unwrap_err();
            assert!(err.to_string().contains("cannot be enforced"), "{err}");
        }
    }

    #[test]
    fn bad_wildcards_and_unknown_names() {
        for s in ["*", "swarm*", "containers*", "con*tainer", "image**"] {
            assert!(
                matches!(
                    CommandEntry::parse(s),
                    Err(CommandError::UnknownWildcard(_))
                ),
                "{s}"
            );
        }
        for s in ["Push", "pushh", "", " push"] {
            assert!(
                matches!(CommandEntry::parse(s), Err(CommandError::Unknown(_))),
                "{s}"
            );
        }
        assert!(matches!(
            CommandEntry::parse("logout"),
            Err(CommandError::ClientOnly(_))
        ));
    }
}
