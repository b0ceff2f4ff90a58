// Every command the app registers: one list, included by `build.rs` (which generates their
// permissions) and by `lib.rs` (`COMMANDS`).
&[
    "load_settings",
    "validate_section",
    "preview_settings",
    "save_settings",
    "probe_image",
    "cancel_probe",
    "history_query",
    "history_audit_count",
    "history_export",
    "history_clear",
    "status",
    "docker_host_line",
    "create_docker_context",
    "try_command",
]
