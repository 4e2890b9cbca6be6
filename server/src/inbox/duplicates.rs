//! Which open cases may duplicate which (并单 suggestions), found per case among its
//! nearest few rather than by comparing every pair: 5,000 open reports of one pothole
//! would otherwise be 12.5 million pairs, each an inbox item.
//!
//! The rule is [`crate::incidents::duplicate`]'s: the same category, within
//! [`RADIUS_M`] (great-circle) and reported within [`WINDOW_MS`] of each other. Each case
//! is offered as a duplicate of at most `k` earlier cases, the nearest ones that meet the
//! rule; when a case has no more than `k` such, it is offered exactly the pairs an
//! all-pairs comparison finds.
//!
//! How: the cases of one category are put in the order reported; each looks back at
//! those reported before it within the window, a contiguous run of that order. A k-d
//! tree over each case's position in a metric plane and its place in that order (72 h
//! counting as 200 m when the tree chooses which to split) keeps, per node, the box its
//! cases lie in and the places they span; a branch-and-bound search skips every node that
//! is out of the run, beyond 200 m, or no nearer than the `k` found so far, visiting the
//! nearer half first. A crowd at one spot is then split by time, and each case finds `k`
//! at 0 m in the first leaf it reaches and skips the rest; a crowd scattered over a street
//! is split by place and time alike. Memory is linear in the cases, time about
//! `n·(log n + k)` for the layouts reports take (a deliberately unlikely one — many at one
//! spot, each more than 72 h from the last — walks more of the tree).

use super::Candidate;
use crate::incidents::duplicate::{RADIUS_M, WINDOW_MS, distance_m};

/// How many merge suggestions a case gets at most (its nearest earlier duplicates).
pub const SUGGESTIONS_PER_CASE: usize = 3;

/// The most cases a leaf of the tree holds.
const LEAF: usize = 8;

/// The mean Earth radius the plane is scaled by (as [`distance_m`]).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The pairs of `cases` (all open) the rule suggests merging, as (earlier, later, metres
/// apart) indexes into `cases`, ordered by earlier then later. Each case is the later of
/// at most `k` pairs: its nearest earlier duplicates (of equally near ones, any).
/// Reported at the same instant, the case listed first counts as the earlier. A case
/// whose position is not a number is nobody's duplicate.
pub fn merge_pairs(cases: &[Candidate<'_>], k: usize) -> Vec<(usize, usize, f64)> {
    let mut order: Vec<usize> =
        (0..cases.len()).filter(|&i| cases[i].lon.is_finite() && cases[i].lat.is_finite()).collect();
    order.sort_by(|&a, &b| {
        (cases[a].category, cases[a].reported_at_ms, a).cmp(&(cases[b].category, cases[b].reported_at_ms, b))
    });
    let mut pairs = Vec::new();
    if k == 0 {
        return pairs;
    }
    for run in order.chunk_by(|&a, &b| cases[a].category == cases[b].category) {
        Category::new(cases, run).pairs(k, &mut pairs);
    }
    pairs.sort_by_key(|&(earlier, later, _)| (earlier, later));
    pairs
}

/// The cases of one category, in the order reported, and the tree over them.
struct Category<'c, 'a> {
    cases: &'c [Candidate<'a>],
    /// Indexes into `cases`, in the order reported: a case's place is its index here.
    run: &'c [usize],
    /// Each case's position in the plane, by place.
    plane: Vec<[f64; 2]>,
    /// How much longer a distance in the plane may be than on the ground (≥ 1).
    stretch: f64,
    /// The places, grouped by the tree: each node holds a contiguous slice.
    places: Vec<usize>,
    /// The tree's nodes, the root first.
    nodes: Vec<Node>,
}

/// A node of the tree: the slice `[from, to)` of `places` it holds.
struct Node {
    from: usize,
    to: usize,
    /// West, south, east, north in the plane.
    bounds: [f64; 4],
    /// The first and last place among its cases.
    first: usize,
    last: usize,
    /// Its two halves (indexes into `nodes`), for a node that is not a leaf.
    halves: Option<(usize, usize)>,
}

/// The nearest duplicates found so far for one case: (metres, index into `cases`),
/// nearest first, at most `k`.
struct Nearest {
    k: usize,
    found: Vec<(f64, usize)>,
}

impl Nearest {
    /// The distance a candidate must beat to enter, once `k` are found.
    fn bar(&self) -> Option<f64> {
        (self.found.len() == self.k).then(|| self.found[self.k - 1].0)
    }

    fn offer(&mut self, metres: f64, case: usize) {
        if metres > RADIUS_M || metres.is_nan() || self.bar().is_some_and(|bar| metres >= bar) {
            return;
        }
        let at = self.found.partition_point(|&(d, _)| d <= metres);
        self.found.insert(at, (metres, case));
        self.found.truncate(self.k);
    }
}

impl<'c, 'a> Category<'c, 'a> {
    fn new(cases: &'c [Candidate<'a>], run: &'c [usize]) -> Category<'c, 'a> {
        // An equirectangular plane whose east–west scale is that of the latitude nearest
        // the equator among the cases: a distance in it is never shorter than on the
        // ground and at most `stretch` times longer (1.005 across a county; more across a
        // country, which only widens the search). Cases across the antimeridian are not
        // expected in one service area.
        let (mut low, mut high) = (f64::INFINITY, 0.0_f64);
        for &i in run {
            let lat = cases[i].lat.abs().min(89.0);
            low = low.min(lat);
            high = high.max(lat);
        }
        let (widest, narrowest) = (low.to_radians().cos(), high.to_radians().cos());
        // The margin covers the plane's and the sphere's formulas parting in the ninth digit.
        let stretch = widest / narrowest * (1.0 + 1e-6);
        let plane = run
            .iter()
            .map(|&i| {
                let c = &cases[i];
                [c.lon.to_radians() * widest * EARTH_RADIUS_M, c.lat.to_radians() * EARTH_RADIUS_M]
            })
            .collect();
        let mut category = Category { cases, run, plane, stretch, places: (0..run.len()).collect(), nodes: Vec::new() };
        category.build(0, run.len());
        category
    }

    /// Builds the node holding `places[from..to]` and those below it; its index.
    fn build(&mut self, from: usize, to: usize) -> usize {
        let mut bounds = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        let (mut first, mut last) = (usize::MAX, 0);
        for &q in &self.places[from..to] {
            let [x, y] = self.plane[q];
            bounds = [bounds[0].min(x), bounds[1].min(y), bounds[2].max(x), bounds[3].max(y)];
            (first, last) = (first.min(q), last.max(q));
        }
        let at = self.nodes.len();
        self.nodes.push(Node { from, to, bounds, first, last, halves: None });
        if to - from <= LEAF {
            return at;
        }
        // Split the longest side, the time spanned counting 200 m per 72 h; by place in
        // the order (unique, so the halves are never empty) when time is the longest.
        let span_ms = self.cases[self.run[last]].reported_at_ms - self.cases[self.run[first]].reported_at_ms;
        let time = span_ms as f64 / WINDOW_MS as f64 * RADIUS_M;
        let (width, height) = (bounds[2] - bounds[0], bounds[3] - bounds[1]);
        let mid = from + (to - from) / 2;
        let plane = &self.plane;
        let slice = &mut self.places[from..to];
        if time >= width && time >= height {
            slice.select_nth_unstable(mid - from);
        } else {
            let axis = usize::from(height > width);
            slice.select_nth_unstable_by(mid - from, |&a, &b| plane[a][axis].total_cmp(&plane[b][axis]));
        }
        let halves = (self.build(from, mid), self.build(mid, to));
        self.nodes[at].halves = Some(halves);
        at
    }

    fn pairs(&self, k: usize, out: &mut Vec<(usize, usize, f64)>) {
        // `from` is the first case reported within the window before the one at `p`.
        let mut from = 0;
        for p in 0..self.run.len() {
            let at = self.cases[self.run[p]].reported_at_ms;
            while self.cases[self.run[from]].reported_at_ms < at.saturating_sub(WINDOW_MS) {
                from += 1;
            }
            if from == p {
                continue;
            }
            let mut nearest = Nearest { k, found: Vec::with_capacity(k + 1) };
            self.search(0, from, p, &mut nearest);
            out.extend(nearest.found.into_iter().map(|(d, earlier)| (earlier, self.run[p], d)));
        }
    }

    /// How far, at least, the cases of `node` lie from the case at place `p` on the ground.
    fn floor(&self, node: &Node, p: usize) -> f64 {
        let [x, y] = self.plane[p];
        let [west, south, east, north] = node.bounds;
        let (dx, dy) = ((west - x).max(x - east).max(0.0), (south - y).max(y - north).max(0.0));
        dx.hypot(dy) / self.stretch
    }

    /// Offers the cases of node `at` whose places lie in `[from, p)` as duplicates of
    /// the case at place `p`, unless none of them can be one nearer than those found.
    fn search(&self, at: usize, from: usize, p: usize, nearest: &mut Nearest) {
        let node = &self.nodes[at];
        let floor = self.floor(node, p);
        if node.last < from || node.first >= p || floor > RADIUS_M || nearest.bar().is_some_and(|bar| floor >= bar) {
            return;
        }
        match node.halves {
            Some((a, b)) => {
                let (near, far) =
                    if self.floor(&self.nodes[a], p) <= self.floor(&self.nodes[b], p) { (a, b) } else { (b, a) };
                self.search(near, from, p, nearest);
                self.search(far, from, p, nearest);
            }
            None => {
                let here = self.cases[self.run[p]];
                for &q in &self.places[node.from..node.to] {
                    if (from..p).contains(&q) {
                        let there = self.cases[self.run[q]];
                        nearest.offer(distance_m((there.lon, there.lat), (here.lon, here.lat)), self.run[q]);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const HOUR: i64 = 3_600_000;
    const T0: i64 = 1_770_000_000_000;

    fn at(category: &str, lon: f64, lat: f64, hours: i64) -> Candidate<'_> {
        Candidate { category, lon, lat, reported_at_ms: T0 + hours * HOUR }
    }

    /// The rule applied to every pair, as the inbox did before: the reference.
    fn all_pairs(cases: &[Candidate<'_>]) -> Vec<(usize, usize, f64)> {
        let mut pairs = Vec::new();
        for i in 0..cases.len() {
            for j in 0..cases.len() {
                let (a, b) = (&cases[i], &cases[j]);
                let earlier = (a.reported_at_ms, i) < (b.reported_at_ms, j);
                let d = distance_m((a.lon, a.lat), (b.lon, b.lat));
                if earlier
                    && a.category == b.category
                    && b.reported_at_ms - a.reported_at_ms <= WINDOW_MS
                    && d <= RADIUS_M
                {
                    pairs.push((i, j, d));
                }
            }
        }
        pairs
    }

    #[test]
    fn duplicates_are_the_same_category_near_in_space_and_time() {
        // 0.001° of latitude is about 111 m; of longitude at 34° N about 92 m.
        let cases = [
            at("C0101", 118.300, 33.950, 0),
            at("C0101", 118.300, 33.951, 10),   // 111 m, 10 h later: a duplicate of 0
            at("C0101", 118.300, 33.953, 20),   // 333 m from 0, 222 m from 1: too far
            at("C0102", 118.300, 33.950, 1),    // another category
            at("C0101", 118.3005, 33.9505, 73), // 72 h after 1 and near it, 73 h after 0
            at("C0101", f64::NAN, 33.950, 2),   // nowhere: nobody's duplicate
        ];
        let pairs = merge_pairs(&cases, SUGGESTIONS_PER_CASE);
        let found: Vec<(usize, usize)> = pairs.iter().map(|&(a, b, _)| (a, b)).collect();
        assert_eq!(found, [(0, 1), (1, 4)]);
        assert!((pairs[0].2 - 111.2).abs() < 1.0, "{pairs:?}");
        assert!(merge_pairs(&[], 3).is_empty());
        assert!(merge_pairs(&cases, 0).is_empty());
    }

    #[test]
    fn a_crowd_at_one_spot_gives_each_case_at_most_k_earlier_ones() {
        let cases: Vec<Candidate<'_>> = (0..2_000).map(|n| at("C0101", 118.3, 33.95, n % 50)).collect();
        let pairs = merge_pairs(&cases, 3);
        let mut per_later = vec![0; cases.len()];
        for &(earlier, later, d) in &pairs {
            assert!((cases[earlier].reported_at_ms, earlier) < (cases[later].reported_at_ms, later));
            assert_eq!(d, 0.0);
            per_later[later] += 1;
        }
        // Every case but the first reported has three (or all) of those before it.
        let first = (0..cases.len()).min_by_key(|&i| (cases[i].reported_at_ms, i)).unwrap_or_default();
        assert_eq!(per_later[first], 0);
        assert_eq!(per_later.iter().filter(|&&n| n == 3).count(), cases.len() - 3, "{per_later:?}");
    }

    #[test]
    fn the_window_is_looked_back_from_each_case() {
        // Ten cases about a metre apart in a row, 10 h apart: each may duplicate those up to
        // 72 h before it (seven at most), and is offered the nearest three.
        let cases: Vec<Candidate<'_>> = (0..10).map(|n| at("C0101", 118.3 + n as f64 * 1e-5, 33.95, n * 10)).collect();
        let pairs = merge_pairs(&cases, 3);
        for later in 0..10 {
            let mine: Vec<usize> = pairs.iter().filter(|p| p.1 == later).map(|p| p.0).collect();
            let within = (0..later).filter(|&e| (later - e) * 10 <= 72).count();
            assert_eq!(mine.len(), within.min(3), "{later}: {mine:?}");
            // Nearer in space is nearer in time here: the three just before.
            assert!(mine.iter().all(|&e| later - e <= 3), "{later}: {mine:?}");
        }
    }

    /// Random cases around one spot: two categories, within about 600 m and 200 h.
    fn scene() -> impl Strategy<Value = Vec<(bool, f64, f64, i64)>> {
        prop::collection::vec((any::<bool>(), -0.003..0.003_f64, -0.003..0.003_f64, 0..200_i64), 0..60)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn the_nearest_k_of_the_pairs_every_pair_comparison_finds(scene in scene(), k in 1..5_usize) {
            let cases: Vec<Candidate<'_>> = scene
                .iter()
                .map(|&(c, dx, dy, h)| at(if c { "C0101" } else { "C0102" }, 118.3 + dx, 33.95 + dy, h))
                .collect();
            let reference = all_pairs(&cases);
            let found = merge_pairs(&cases, k);
            // With room for all, exactly the same pairs.
            let mut everything = merge_pairs(&cases, cases.len().max(1));
            everything.sort_by_key(|&(a, b, _)| (a, b));
            let mut expected = reference.clone();
            expected.sort_by_key(|&(a, b, _)| (a, b));
            prop_assert_eq!(&everything, &expected);
            for later in 0..cases.len() {
                let mine: Vec<(usize, f64)> = found.iter().filter(|p| p.1 == later).map(|p| (p.0, p.2)).collect();
                let all: Vec<(usize, f64)> = reference.iter().filter(|p| p.1 == later).map(|p| (p.0, p.2)).collect();
                // At most k, and as many as there are up to k ...
                prop_assert_eq!(mine.len(), all.len().min(k));
                // ... each a pair of the rule, at the rule's distance ...
                for pair in &mine {
                    prop_assert!(all.contains(pair), "{:?} not in {:?}", pair, all);
                }
                // ... and none left out nearer than one taken.
                let farthest = mine.iter().map(|p| p.1).fold(0.0, f64::max);
                for pair in all.iter().filter(|p| !mine.contains(p)) {
                    prop_assert!(pair.1 >= farthest, "{:?} left out, nearer than {}", pair, farthest);
                }
            }
        }
    }
}
