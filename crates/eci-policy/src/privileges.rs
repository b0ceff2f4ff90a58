//! The host privileges a request asks the engine for: what would hand a container the host (and
//! with it the engine socket) without mounting the socket. Read with the engine's rules; judged in
//! [`crate::decide::host_verdict`].
//!
//! Rules followed (moby 20.10 and later): `api/types/container/hostconfig.go` (`IsHost` compares
//! exactly to `host`), `oci/caps` (`NormalizeLegacyCapabilities`: Go's `strings.ToUpper`, with or
//! without `CAP_`, `ALL`), `daemon/oci_linux.go` (`MaskedPaths`/`ReadonlyPaths` given, even empty,
//! replace the defaults), `daemon/daemon_unix.go` `parseSecurityOpt` (`key=value`, legacy
//! `key:value`), and the swarm `ContainerSpec` (`Privileges`, `CapabilityAdd`). Comparisons here
//! are looser than the engine's (trimmed, any ASCII case) so they can only report more.

use serde_json::{Map, Value};

use crate::gojson::{pointer_push, BodyError};
use crate::mounts::{
    array_field, bool_field, element_string, go_to_upper, object, object_field, string_field, wrong,
};

/// One host privilege a request asks for: where in the body, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFlag {
    /// JSON pointer to the field, with the keys as the body spells them.
    pub pointer: String,
    /// What it grants, as a person reads it (`Privileged`, `PidMode=host`, `CapAdd=SYS_ADMIN`).
    pub flag: String,
}

/// Capabilities that reach the host from a container that is not in a user namespace: mounts
/// and namespaces (`SYS_ADMIN`), other processes (`SYS_PTRACE`), kernel modules, raw I/O and
/// ports, files by handle outside the root (`DAC_READ_SEARCH`, the "shocker" escape), the
/// kernel's logs, BPF and perf, security modules, the clock and reboot.
const HOST_CAPABILITIES: &[&str] = &[
    "ALL",
    "SYS_ADMIN",
    "SYS_PTRACE",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "SYS_TIME",
    "DAC_READ_SEARCH",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "SYSLOG",
    "BPF",
    "PERFMON",
];

/// The engine's default masked paths (`oci.DefaultSpec`); a create that gives its own list
/// without one of them unmasks it.
const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// The engine's default read-only paths.
const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Host namespaces a container can join, by `HostConfig` field.
const HOST_NAMESPACE_FIELDS: &[&str] = &[
    "PidMode",
    "IpcMode",
    "UsernsMode",
    "UTSMode",
    "CgroupnsMode",
];

/// The host privileges of a container create body (`HostConfig`, and the deprecated top-level
/// copy the 20.10 engine still reads when `HostConfig` is absent).
pub fn container_create(body: &Value) -> Result<Vec<HostFlag>, BodyError> {
    let top = object(body, "")?.ok_or_else(|| wrong("", "an object"))?;
    let mut flags = Vec::new();
    if let Some((hc, ptr)) = object_field(top, "HostConfig", "")? {
        host_config(hc, &ptr, &mut flags)?;
    }
    host_config(top, "", &mut flags)?;
    Ok(flags)
}

/// The host privileges of an exec create body (`POST /containers/{id}/exec`).
pub fn exec_create(body: &Value) -> Result<Vec<HostFlag>, BodyError> {
    let top = object(body, "")?.ok_or_else(|| wrong("", "an object"))?;
    let mut flags = Vec::new();
    if bool_field(top, "Privileged", "")? {
        flags.push(flag(top, "Privileged", "", "privileged exec".to_owned()));
    }
    Ok(flags)
}

/// The host privileges of a service spec (`TaskTemplate.ContainerSpec`).
pub fn service_spec(body: &Value) -> Result<Vec<HostFlag>, BodyError> {
    let top = object(body, "")?.ok_or_else(|| wrong("", "an object"))?;
    let mut flags = Vec::new();
    let Some((task, task_ptr)) = object_field(top, "TaskTemplate", "")? else {
        return Ok(flags);
    };
    let Some((spec, spec_ptr)) = object_field(task, "ContainerSpec", &task_ptr)? else {
        return Ok(flags);
    };
    capabilities(spec, "CapabilityAdd", &spec_ptr, &mut flags)?;
    if let Some((privs, privs_ptr)) = object_field(spec, "Privileges", &spec_ptr)? {
        if let Some((se, se_ptr)) = object_field(privs, "SELinuxContext", &privs_ptr)? {
            if bool_field(se, "Disable", &se_ptr)? {
                flags.push(flag(
                    se,
                    "Disable",
                    &se_ptr,
                    "SELinux label disabled".to_owned(),
                ));
            }
        }
        for (field, off) in [("Seccomp", "unconfined"), ("AppArmor", "disabled")] {
            if let Some((o, o_ptr)) = object_field(privs, field, &privs_ptr)? {
                let mode = string_field(o, "Mode", &o_ptr)?.unwrap_or_default();
                if mode.trim().eq_ignore_ascii_case(off) {
                    flags.push(flag(o, "Mode", &o_ptr, format!("{field} {off}")));
                }
            }
        }
    }
    Ok(flags)
}

fn host_config(
    hc: &Map<String, Value>,
    ptr: &str,
    flags: &mut Vec<HostFlag>,
) -> Result<(), BodyError> {
    if bool_field(hc, "Privileged", ptr)? {
        flags.push(flag(hc, "Privileged", ptr, "Privileged".to_owned()));
    }
    for field in HOST_NAMESPACE_FIELDS {
        let mode = string_field(hc, field, ptr)?.unwrap_or_default();
        if mode.trim().eq_ignore_ascii_case("host") {
            flags.push(flag(hc, field, ptr, format!("{field}=host")));
        }
    }
    capabilities(hc, "CapAdd", ptr, flags)?;
    // API 1.40+: `Capabilities` replaces the default set outright.
    capabilities(hc, "Capabilities", ptr, flags)?;
    for field in ["Devices", "DeviceCgroupRules"] {
        if !array_field(hc, field, ptr)?.is_empty() {
            flags.push(flag(hc, field, ptr, format!("{field} (host devices)")));
        }
    }
    for (field, defaults) in [
        ("MaskedPaths", DEFAULT_MASKED_PATHS),
        ("ReadonlyPaths", DEFAULT_READONLY_PATHS),
    ] {
        // Absent or null keeps the defaults; a list given replaces them.
        if crate::gojson::field(hc, field).is_some_and(|v| !v.is_null()) {
            let given = array_field(hc, field, ptr)?
                .into_iter()
                .map(|(p, v)| element_string(v, &p).map(str::to_owned))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(missing) = defaults.iter().find(|d| !given.iter().any(|g| g == *d)) {
                flags.push(flag(hc, field, ptr, format!("{field} without {missing}")));
            }
        }
    }
    for (p, v) in array_field(hc, "SecurityOpt", ptr)? {
        let opt = element_string(v, &p)?;
        if let Some(what) = unconfined(opt) {
            flags.push(HostFlag {
                pointer: p,
                flag: format!("SecurityOpt {what}"),
            });
        }
    }
    Ok(())
}

fn capabilities(
    obj: &Map<String, Value>,
    field: &str,
    ptr: &str,
    flags: &mut Vec<HostFlag>,
) -> Result<(), BodyError> {
    for (p, v) in array_field(obj, field, ptr)? {
        let upper = go_to_upper(element_string(v, &p)?.trim());
        let name = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if HOST_CAPABILITIES.contains(&name) {
            flags.push(HostFlag {
                pointer: p,
                flag: format!("{field}={name}"),
            });
        }
    }
    Ok(())
}

/// A `SecurityOpt` that lifts a confinement: seccomp unconfined or a profile that allows by
/// default, AppArmor unconfined, SELinux labelling disabled or the super-privileged type, the
/// masked and read-only system paths lifted.
fn unconfined(opt: &str) -> Option<String> {
    let (key, value) = opt.split_once('=').or_else(|| opt.split_once(':'))?;
    let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
    let off = match key.as_str() {
        "seccomp" => value.eq_ignore_ascii_case("unconfined") || !confining_profile(value),
        "apparmor" | "systempaths" => value.eq_ignore_ascii_case("unconfined"),
        "label" => {
            value.eq_ignore_ascii_case("disable") || value.to_ascii_lowercase().contains("spc_t")
        }
        _ => false,
    };
    off.then(|| {
        format!(
            "{key}={}",
            if key == "seccomp" && !value.eq_ignore_ascii_case("unconfined") {
                "a profile that does not deny by default, or cannot be read safely"
            } else {
                value
            }
        )
    })
}

/// Whether a seccomp profile (the JSON the CLI sends) denies by default. Read as the engine's Go
/// reads it, and anything that reader could take differently (duplicate or folding keys, lone
/// surrogates, bad nesting) counts as not confining: it is refused, not guessed.
fn confining_profile(profile: &str) -> bool {
    let Ok(Value::Object(o)) =
        crate::gojson::parse(profile.as_bytes(), &crate::gojson::Limits::default())
    else {
        return false;
    };
    crate::gojson::field(&o, "defaultAction")
        .and_then(Value::as_str)
        .is_some_and(|a| {
            matches!(
                a,
                "SCMP_ACT_ERRNO"
                    | "SCMP_ACT_KILL"
                    | "SCMP_ACT_KILL_PROCESS"
                    | "SCMP_ACT_KILL_THREAD"
                    | "SCMP_ACT_TRAP"
            )
        })
}

/// The host privileges a plugin asks for, from the engine's inspect of it (`Config`, and the
/// `Settings` the user may have set): host PID or IPC namespace, host network, host-reaching
/// capabilities, devices. The engine grants them when the plugin is enabled.
pub fn plugin(inspect: &Value) -> Vec<HostFlag> {
    let mut flags = Vec::new();
    let config = &inspect["Config"];
    for (field, what) in [
        ("PidHost", "host PID namespace"),
        ("IpcHost", "host IPC namespace"),
    ] {
        if config[field] == true {
            flags.push(HostFlag {
                pointer: format!("/Config/{field}"),
                flag: format!("plugin {what}"),
            });
        }
    }
    if config["Network"]["Type"].as_str() == Some("host") {
        flags.push(HostFlag {
            pointer: "/Config/Network/Type".to_owned(),
            flag: "plugin host network".to_owned(),
        });
    }
    for cap in config["Linux"]["Capabilities"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let upper = go_to_upper(cap.as_str().unwrap_or_default().trim());
        let name = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if HOST_CAPABILITIES.contains(&name) {
            flags.push(HostFlag {
                pointer: "/Config/Linux/Capabilities".to_owned(),
                flag: format!("plugin capability {name}"),
            });
        }
    }
    let devices = |v: &Value| v.as_array().is_some_and(|d| !d.is_empty());
    if config["Linux"]["AllowAllDevices"] == true
        || devices(&config["Linux"]["Devices"])
        || devices(&inspect["Settings"]["Devices"])
    {
        flags.push(HostFlag {
            pointer: "/Config/Linux/Devices".to_owned(),
            flag: "plugin host devices".to_owned(),
        });
    }
    flags
}

fn flag(obj: &Map<String, Value>, field: &str, ptr: &str, what: String) -> HostFlag {
    let key = crate::gojson::field_entry(obj, field).map_or(field, |(k, _)| k.as_str());
    HostFlag {
        pointer: pointer_push(ptr, key),
        flag: what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flags(body: Value) -> Vec<String> {
        container_create(&body)
            .unwrap()
            .into_iter()
            .map(|f| f.flag)
            .collect()
    }

    #[test]
    fn reads_every_host_privilege_of_a_create() {
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            (
                "plain",
                json!({"Image":"x","HostConfig":{"Binds":["/tmp:/t"]}}),
                vec![],
            ),
            (
                "privileged",
                json!({"HostConfig":{"Privileged":true}}),
                vec!["Privileged"],
            ),
            (
                "privileged false",
                json!({"HostConfig":{"Privileged":false}}),
                vec![],
            ),
            (
                "lower-case keys",
                json!({"hostconfig":{"privileged":true}}),
                vec!["Privileged"],
            ),
            (
                "deprecated top level",
                json!({"Privileged":true}),
                vec!["Privileged"],
            ),
            (
                "pid host",
                json!({"HostConfig":{"PidMode":"host"}}),
                vec!["PidMode=host"],
            ),
            (
                "pid of a container",
                json!({"HostConfig":{"PidMode":"container:abc"}}),
                vec![],
            ),
            (
                "ipc host",
                json!({"HostConfig":{"IpcMode":"host"}}),
                vec!["IpcMode=host"],
            ),
            (
                "userns host",
                json!({"HostConfig":{"UsernsMode":"host"}}),
                vec!["UsernsMode=host"],
            ),
            (
                "uts host",
                json!({"HostConfig":{"UTSMode":"host"}}),
                vec!["UTSMode=host"],
            ),
            (
                "cgroupns host",
                json!({"HostConfig":{"CgroupnsMode":"host"}}),
                vec!["CgroupnsMode=host"],
            ),
            (
                "cap sys_admin",
                json!({"HostConfig":{"CapAdd":["sys_admin"]}}),
                vec!["CapAdd=SYS_ADMIN"],
            ),
            (
                "cap with prefix",
                json!({"HostConfig":{"CapAdd":["CAP_SYS_PTRACE"]}}),
                vec!["CapAdd=SYS_PTRACE"],
            ),
            (
                "cap all",
                json!({"HostConfig":{"CapAdd":["all"]}}),
                vec!["CapAdd=ALL"],
            ),
            // Go's strings.ToUpper turns a dotless i into I, as the engine's normaliser does.
            (
                "cap dotless i",
                json!({"HostConfig":{"CapAdd":["sys_adm\u{131}n"]}}),
                vec!["CapAdd=SYS_ADMIN"],
            ),
            (
                "cap long s",
                json!({"HostConfig":{"CapAdd":["\u{17F}ys_module"]}}),
                vec!["CapAdd=SYS_MODULE"],
            ),
            (
                "capabilities replacing the set",
                json!({"HostConfig":{"Capabilities":["CAP_SYS_ADMIN","CAP_CHOWN"]}}),
                vec!["Capabilities=SYS_ADMIN"],
            ),
            (
                "harmless cap",
                json!({"HostConfig":{"CapAdd":["NET_BIND_SERVICE"]}}),
                vec![],
            ),
            (
                "devices",
                json!({"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]}}),
                vec!["Devices (host devices)"],
            ),
            (
                "device rules",
                json!({"HostConfig":{"DeviceCgroupRules":["b *:* rwm"]}}),
                vec!["DeviceCgroupRules (host devices)"],
            ),
            (
                "no devices",
                json!({"HostConfig":{"Devices":[],"DeviceCgroupRules":null}}),
                vec![],
            ),
            (
                "masked emptied",
                json!({"HostConfig":{"MaskedPaths":[]}}),
                vec!["MaskedPaths without /proc/asound"],
            ),
            (
                "masked null keeps defaults",
                json!({"HostConfig":{"MaskedPaths":null}}),
                vec![],
            ),
            (
                "masked with all defaults and more",
                json!({"HostConfig":{"MaskedPaths":DEFAULT_MASKED_PATHS.iter().copied().chain(["/proc/x"]).collect::<Vec<_>>()}}),
                vec![],
            ),
            (
                "readonly emptied",
                json!({"HostConfig":{"ReadonlyPaths":[]}}),
                vec!["ReadonlyPaths without /proc/bus"],
            ),
            (
                "seccomp unconfined",
                json!({"HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}),
                vec!["SecurityOpt seccomp=unconfined"],
            ),
            (
                "seccomp legacy colon",
                json!({"HostConfig":{"SecurityOpt":["seccomp:unconfined"]}}),
                vec!["SecurityOpt seccomp=unconfined"],
            ),
            (
                "seccomp allow-all profile",
                json!({"HostConfig":{"SecurityOpt":["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]}}),
                vec!["SecurityOpt seccomp=a profile that does not deny by default, or cannot be read safely"],
            ),
            (
                "seccomp profile with a lone surrogate",
                json!({"HostConfig":{"SecurityOpt":["seccomp={\"defaultAction\":\"SCMP_ACT_ERRNO\",\"x\":\"\\ud800\"}"]}}),
                vec!["SecurityOpt seccomp=a profile that does not deny by default, or cannot be read safely"],
            ),
            (
                "seccomp profile with repeated keys",
                json!({"HostConfig":{"SecurityOpt":["seccomp={\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]}}),
                vec!["SecurityOpt seccomp=a profile that does not deny by default, or cannot be read safely"],
            ),
            (
                "seccomp profile logging by default",
                json!({"HostConfig":{"SecurityOpt":["seccomp={\"defaultAction\":\"SCMP_ACT_LOG\"}"]}}),
                vec!["SecurityOpt seccomp=a profile that does not deny by default, or cannot be read safely"],
            ),
            (
                "seccomp strict profile",
                json!({"HostConfig":{"SecurityOpt":["seccomp={\"defaultAction\":\"SCMP_ACT_ERRNO\"}"]}}),
                vec![],
            ),
            (
                "apparmor unconfined",
                json!({"HostConfig":{"SecurityOpt":["apparmor=unconfined"]}}),
                vec!["SecurityOpt apparmor=unconfined"],
            ),
            (
                "label disable",
                json!({"HostConfig":{"SecurityOpt":["label=disable"]}}),
                vec!["SecurityOpt label=disable"],
            ),
            (
                "label spc_t",
                json!({"HostConfig":{"SecurityOpt":["label=type:spc_t"]}}),
                vec!["SecurityOpt label=type:spc_t"],
            ),
            (
                "systempaths",
                json!({"HostConfig":{"SecurityOpt":["systempaths=unconfined"]}}),
                vec!["SecurityOpt systempaths=unconfined"],
            ),
            (
                "no-new-privileges",
                json!({"HostConfig":{"SecurityOpt":["no-new-privileges"]}}),
                vec![],
            ),
        ];
        for (what, body, want) in cases {
            assert_eq!(flags(body), want, "{what}");
        }
    }

    #[test]
    fn plugin_privileges() {
        let flags = |v: Value| plugin(&v).into_iter().map(|f| f.flag).collect::<Vec<_>>();
        assert_eq!(
            flags(
                json!({"Config":{"PidHost":true,"IpcHost":true,"Network":{"Type":"host"},
                "Linux":{"Capabilities":["CAP_SYS_PTRACE","CAP_CHOWN"],"AllowAllDevices":false,"Devices":null}},
                "Settings":{"Devices":[{"Path":"/dev/fuse"}]}})
            ),
            vec![
                "plugin host PID namespace",
                "plugin host IPC namespace",
                "plugin host network",
                "plugin capability SYS_PTRACE",
                "plugin host devices"
            ]
        );
        assert_eq!(
            flags(
                json!({"Config":{"Network":{"Type":""},"Linux":{"Capabilities":null}},"Settings":{}})
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn pointers_name_the_field_as_spelled() {
        let f = container_create(&json!({"hostconfig":{"capadd":["SYS_ADMIN"],"privileged":true}}))
            .unwrap();
        let pointers: Vec<&str> = f.iter().map(|f| f.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            vec!["/hostconfig/privileged", "/hostconfig/capadd/0"]
        );
    }

    #[test]
    fn wrong_types_are_decode_errors() {
        for body in [
            json!({"HostConfig":{"Privileged":"yes"}}),
            json!({"HostConfig":{"CapAdd":"SYS_ADMIN"}}),
            json!({"HostConfig":{"PidMode":1}}),
            json!({"HostConfig":{"MaskedPaths":{}}}),
        ] {
            assert!(container_create(&body).is_err(), "{body}");
        }
    }

    #[test]
    fn exec_and_service_privileges() {
        let exec = |b: Value| {
            exec_create(&b)
                .unwrap()
                .into_iter()
                .map(|f| f.flag)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            exec(json!({"Cmd":["sh"],"Privileged":true})),
            vec!["privileged exec"]
        );
        assert_eq!(exec(json!({"Cmd":["sh"]})), Vec::<String>::new());
        let svc = |b: Value| {
            service_spec(&b)
                .unwrap()
                .into_iter()
                .map(|f| f.flag)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            svc(
                json!({"TaskTemplate":{"ContainerSpec":{"Image":"x","CapabilityAdd":["CAP_SYS_ADMIN"],
                "Privileges":{"SELinuxContext":{"Disable":true},"Seccomp":{"Mode":"unconfined"},"AppArmor":{"Mode":"disabled"}}}}})
            ),
            vec![
                "CapabilityAdd=SYS_ADMIN",
                "SELinux label disabled",
                "Seccomp unconfined",
                "AppArmor disabled"
            ]
        );
        assert_eq!(svc(json!({"Name":"s"})), Vec::<String>::new());
    }
}
