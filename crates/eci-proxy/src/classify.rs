//! The bridge from the route table to what the proxy does with a request: which body it must
//! read, and which commands it belongs to (for the block record).

use eci_policy::decide::Denial;
use eci_policy::routes::{self, Endpoint, Route};

/// Which request body the enforcer must read before forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inspect {
    None,
    ContainerCreate,
    /// Service create and update: a spec with mounts.
    Service,
}

#[derive(Debug, Clone)]
pub struct Classified {
    pub route: Route,
    pub inspect: Inspect,
    pub commands: Vec<String>,
}

/// Classifies a request as the engine's router would see it; what cannot be classified is
/// refused, never forwarded.
pub fn classify(method: &str, target: &str) -> Result<Classified, Denial> {
    let route =
        routes::classify(method, target).map_err(|e| Denial::invalid(e.status, e.to_string()))?;
    let inspect = match route.endpoint {
        Endpoint::ContainerCreate => Inspect::ContainerCreate,
        Endpoint::ServiceCreate | Endpoint::ServiceUpdate => Inspect::Service,
        _ => Inspect::None,
    };
    let commands = route.commands.iter().map(|c| c.to_string()).collect();
    Ok(Classified {
        route,
        inspect,
        commands,
    })
}
