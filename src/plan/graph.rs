//! The plan's dependency graph (petgraph): which change must succeed before which.
//!
//! Built from each change's `depends_on`; a dependency that is not in the plan (filtered out by
//! `--target`, say) counts as already satisfied. The planner never produces a cycle; a plan file
//! edited by hand that has one is refused.

use std::collections::HashMap;

use petgraph::graph::{DiGraph, NodeIndex};

use super::Plan;

/// Edges run from a dependency to its dependents. Node weights are indexes into
/// `plan.changes`.
pub struct DependencyGraph {
    pub graph: DiGraph<usize, ()>,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("the plan's changes depend on each other in a cycle through `{0}`")]
    Cycle(String),
}

impl DependencyGraph {
    pub fn build(plan: &Plan) -> Result<DependencyGraph, GraphError> {
        let mut graph = DiGraph::with_capacity(plan.changes.len(), plan.changes.len());
        let nodes: Vec<NodeIndex> = (0..plan.changes.len()).map(|i| graph.add_node(i)).collect();
        let by_address: HashMap<&str, NodeIndex> = plan
            .changes
            .iter()
            .zip(&nodes)
            .map(|(c, &n)| (c.address.as_str(), n))
            .collect();
        for (change, &node) in plan.changes.iter().zip(&nodes) {
            for dep in &change.depends_on {
                if let Some(&from) = by_address.get(dep.as_str()) {
                    graph.add_edge(from, node, ());
                }
            }
        }
        if let Err(cycle) = petgraph::algo::toposort(&graph, None) {
            let change = &plan.changes[graph[cycle.node_id()]];
            return Err(GraphError::Cycle(change.address.clone()));
        }
        Ok(DependencyGraph { graph })
    }

    /// Change indexes in an order where every change comes after its dependencies.
    pub fn order(&self) -> Vec<usize> {
        petgraph::algo::toposort(&self.graph, None)
            .map(|nodes| nodes.into_iter().map(|n| self.graph[n]).collect())
            .unwrap_or_default()
    }

    /// For each change index, the indexes of the changes that depend on it.
    pub fn dependents(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.graph.node_count()];
        for edge in self.graph.raw_edges() {
            out[self.graph[edge.source()]].push(self.graph[edge.target()]);
        }
        out
    }

    /// For each change index, the indexes of the changes it depends on.
    pub fn dependencies(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.graph.node_count()];
        for edge in self.graph.raw_edges() {
            out[self.graph[edge.target()]].push(self.graph[edge.source()]);
        }
        out
    }
}
