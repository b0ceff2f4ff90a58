//! The engine's answers the decisions read (container, image, volume and plugin inspects, the
//! container and image lists), typed once where they are read: only the fields used, so an answer
//! of another shape is an error naming its endpoint rather than a fact silently missing.

use eci_policy::decide::ImageFacts;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `null` read as the type's empty value: the engine writes Go's nil slices and maps as `null`.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    pub id: String,
    /// The ID of the image it runs.
    #[serde(default, deserialize_with = "nullable")]
    pub image: String,
    #[serde(default, deserialize_with = "nullable")]
    pub config: ContainerConfig,
    #[serde(default, deserialize_with = "nullable")]
    pub state: ContainerState,
    /// Where the engine has already expanded `VolumesFrom`.
    #[serde(default, deserialize_with = "nullable")]
    pub mounts: Vec<ContainerMount>,
    #[serde(default)]
    pub host_config: HostConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// The image as the container was created with it (a name, or an ID).
    pub image: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    pub pid: Option<i64>,
    pub running: Option<bool>,
    /// RFC 3339.
    pub started_at: Option<String>,
}

/// One of a container's `Mounts`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerMount {
    /// `bind`, `volume`, `tmpfs`…
    #[serde(default, deserialize_with = "nullable")]
    pub r#type: String,
    /// A volume's name.
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub source: String,
    #[serde(default, deserialize_with = "nullable")]
    pub destination: String,
    pub driver: Option<String>,
    #[serde(rename = "RW")]
    pub rw: Option<bool>,
}

/// A container's `HostConfig`: kept whole, since eci-policy reads its host privileges with the
/// engine's own (Go) JSON rules, and its restart policy typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "Value")]
pub struct HostConfig {
    pub raw: Value,
    /// `RestartPolicy.Name`.
    pub restart_policy: Option<String>,
}

impl TryFrom<Value> for HostConfig {
    type Error = serde_json::Error;

    fn try_from(raw: Value) -> Result<HostConfig, serde_json::Error> {
        #[derive(Deserialize)]
        struct RestartPolicy {
            #[serde(rename = "Name")]
            name: Option<String>,
        }
        let policy = match raw.get("RestartPolicy") {
            Some(p) => Option::<RestartPolicy>::deserialize(p)?,
            None => None,
        };
        Ok(HostConfig {
            restart_policy: policy.and_then(|p| p.name),
            raw,
        })
    }
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Image {
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub repo_digests: Vec<String>,
    #[serde(rename = "RootFS", default, deserialize_with = "nullable")]
    pub root_fs: RootFs,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFs {
    #[serde(default, deserialize_with = "nullable")]
    pub layers: Vec<String>,
}

impl Image {
    /// The decision's view of the image, asked for as `name`.
    pub fn facts(self, name: &str) -> ImageFacts {
        ImageFacts {
            name: name.to_owned(),
            id: self.id,
            repo_digests: self.repo_digests,
            layers: self.root_fs.layers,
        }
    }
}

/// `GET /volumes/{name}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: Option<String>,
    pub driver: Option<String>,
    /// The driver options it was created with, kept as the engine wrote them: eci-policy reads
    /// them as it reads a create's `DriverOpts`.
    #[serde(default)]
    pub options: Value,
}

/// `GET /plugins/{name}/json`: the host paths it mounts, and the whole answer, which eci-policy
/// reads for the host privileges the plugin asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Value")]
pub struct Plugin {
    /// The non-empty `Source` of each of its `Settings.Mounts`, then of its `Config.Mounts`.
    pub mount_sources: Vec<String>,
    pub raw: Value,
}

impl TryFrom<Value> for Plugin {
    type Error = serde_json::Error;

    fn try_from(raw: Value) -> Result<Plugin, serde_json::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Sections {
            #[serde(default, deserialize_with = "nullable")]
            settings: Mounts,
            #[serde(default, deserialize_with = "nullable")]
            config: Mounts,
        }
        #[derive(Default, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Mounts {
            #[serde(default, deserialize_with = "nullable")]
            mounts: Vec<Mount>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Mount {
            source: Option<String>,
        }
        let sections = Sections::deserialize(&raw)?;
        let mount_sources = [sections.settings, sections.config]
            .into_iter()
            .flat_map(|s| s.mounts)
            .filter_map(|m| m.source.filter(|s| !s.is_empty()))
            .collect();
        Ok(Plugin { mount_sources, raw })
    }
}

/// One entry of `GET /containers/json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSummary {
    pub id: String,
    /// `running`, `exited`…
    pub state: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub mounts: Vec<SummaryMount>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SummaryMount {
    pub source: Option<String>,
    pub destination: Option<String>,
}

/// One entry of `GET /images/json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub repo_digests: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub repo_tags: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_what_the_engine_writes_nulls_included() {
        let c: Container = serde_json::from_value(json!({
            "Id": "abc",
            "Image": "sha256:1",
            "Config": {"Image": "busybox", "Env": null},
            "State": {"Pid": 42, "Running": true, "StartedAt": "2026-01-01T00:00:00Z"},
            "Mounts": [{"Type": "volume", "Name": "v", "Source": "/var/lib/v", "Destination": "/d", "Driver": "local", "RW": false}],
            "HostConfig": {"Privileged": true, "RestartPolicy": {"Name": "always"}},
        }))
        .unwrap();
        assert_eq!((c.id.as_str(), c.image.as_str()), ("abc", "sha256:1"));
        assert_eq!(c.config.image.as_deref(), Some("busybox"));
        assert_eq!((c.state.pid, c.state.running), (Some(42), Some(true)));
        assert_eq!(c.mounts[0].name.as_deref(), Some("v"));
        assert_eq!(c.mounts[0].rw, Some(false));
        assert_eq!(c.host_config.restart_policy.as_deref(), Some("always"));
        assert_eq!(c.host_config.raw["Privileged"], true);
        let bare: Container =
            serde_json::from_value(json!({"Id": "abc", "Mounts": null, "HostConfig": null}))
                .unwrap();
        assert!(bare.mounts.is_empty() && bare.host_config.restart_policy.is_none());
        let image: Image = serde_json::from_value(
            json!({"Id": "sha256:1", "RepoDigests": null, "RootFS": {"Type": "layers"}}),
        )
        .unwrap();
        assert_eq!(
            image.facts("x"),
            ImageFacts {
                name: "x".into(),
                id: "sha256:1".into(),
                ..ImageFacts::default()
            }
        );
        let plugin: Plugin = serde_json::from_value(json!({
            "Settings": {"Mounts": [{"Source": "/run"}, {"Source": ""}]},
            "Config": {"Mounts": [{"Source": null}, {"Source": "/etc"}]},
        }))
        .unwrap();
        assert_eq!(plugin.mount_sources, vec!["/run", "/etc"]);
    }

    #[test]
    fn another_shape_is_an_error() {
        let cases = [
            serde_json::from_value::<Container>(json!({"Image": "sha256:1"})).err(),
            serde_json::from_value::<Container>(json!({"Id": "a", "Mounts": {}})).err(),
            serde_json::from_value::<Container>(
                json!({"Id": "a", "HostConfig": {"RestartPolicy": {"Name": 1}}}),
            )
            .err(),
            serde_json::from_value::<Image>(json!({"Id": "x", "RepoDigests": "a@b"})).err(),
            serde_json::from_value::<Plugin>(json!({"Settings": {"Mounts": [{"Source": 1}]}}))
                .err(),
            serde_json::from_value::<Vec<ContainerSummary>>(json!({"Id": "a"})).err(),
        ];
        for (i, e) in cases.iter().enumerate() {
            assert!(e.is_some(), "case {i} parsed");
        }
    }
}
