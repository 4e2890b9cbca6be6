//! The figures a centre is judged by (综合评价): counts and rates over the cases of an
//! area and a period, grouped by area, category, department, handler or day, the mean and
//! p90 time of each step, and a composite score with rankings. Each case's [`facts`] are
//! folded from its events by the one write path and stored beside it ([`store`]); the
//! figures are sums over those rows, computed by the database ([`query`]), named and
//! scored by plain functions ([`figures`]), and served by [`routes`].
//! docs/statistics.md writes out every formula.

pub mod facts;
pub mod figures;
pub mod query;
pub mod routes;
pub mod store;
