//! Decides, for two command patterns, whether some text matches both and whether one is
//! strictly more specific, by treating each pattern as a small automaton (a `[param]` is `.+`).

use std::collections::{BTreeSet, HashMap, VecDeque};

use bennettbot_pattern::Segment;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    Char(char),
    /// Exactly one character of any kind.
    Any,
    /// Zero or more characters of any kind.
    Star,
}

/// A pattern compiled to an NFA over positions in its element list.
#[derive(Debug, Clone)]
pub struct Nfa {
    elems: Vec<Elem>,
}

/// A symbol of the shared alphabet: a character named in some pattern, or "any other".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Sym {
    Char(char),
    Other,
}

type States = BTreeSet<usize>;

/// The states of both automata after the same text.
type Pair = (States, States);

impl Nfa {
    /// Builds the automaton of a pattern.
    pub fn new(segments: &[Segment<'_>]) -> Self {
        let mut elems = Vec::new();
        for s in segments {
            match s {
                Segment::Literal(l) => elems.extend(l.chars().map(Elem::Char)),
                Segment::Param(_) => elems.extend([Elem::Any, Elem::Star]),
            }
        }
        Nfa { elems }
    }

    fn chars(&self) -> impl Iterator<Item = char> + '_ {
        self.elems.iter().filter_map(|e| match e {
            Elem::Char(c) => Some(*c),
            _ => None,
        })
    }

    fn closure(&self, mut states: States) -> States {
        let mut stack: Vec<usize> = states.iter().copied().collect();
        while let Some(i) = stack.pop() {
            if self.elems.get(i) == Some(&Elem::Star) && states.insert(i + 1) {
                stack.push(i + 1);
            }
        }
        states
    }

    fn start(&self) -> States {
        self.closure(BTreeSet::from([0]))
    }

    fn accepts(&self, states: &States) -> bool {
        states.contains(&self.elems.len())
    }

    fn step(&self, states: &States, sym: Sym) -> States {
        let mut next = BTreeSet::new();
        for &i in states {
            match self.elems.get(i) {
                Some(Elem::Char(c)) if sym == Sym::Char(*c) => {
                    next.insert(i + 1);
                }
                Some(Elem::Any) => {
                    next.insert(i + 1);
                }
                Some(Elem::Star) => {
                    next.insert(i);
                }
                _ => {}
            }
        }
        self.closure(next)
    }
}

fn alphabet(a: &Nfa, b: &Nfa) -> (Vec<Sym>, char) {
    let chars: BTreeSet<char> = a.chars().chain(b.chars()).collect();
    let other = ['x', 'y', 'z', 'q', 'w', 'k', '0', '1', 'é']
        .into_iter()
        .find(|c| !chars.contains(c))
        .unwrap_or('\u{2603}');
    // "Any other" first: breadth-first search then fills parameters with a plain letter
    // rather than a space or punctuation, so witnesses read like messages (`demo hello x`,
    // not `demo hello  `).
    let mut syms = vec![Sym::Other];
    syms.extend(chars.into_iter().map(Sym::Char));
    (syms, other)
}

/// Explores pairs of state sets breadth-first and returns the shortest text for which `goal`
/// holds, if any. Pairs where `prune` holds are not explored further.
fn search(
    a: &Nfa,
    b: &Nfa,
    goal: impl Fn(&States, &States) -> bool,
    prune: impl Fn(&States, &States) -> bool,
) -> Option<String> {
    let (syms, other) = alphabet(a, b);
    let start = (a.start(), b.start());
    let mut parent: HashMap<Pair, Option<(Pair, Sym)>> = HashMap::new();
    parent.insert(start.clone(), None);
    let mut queue = VecDeque::from([start]);
    while let Some(pair) = queue.pop_front() {
        if goal(&pair.0, &pair.1) {
            let mut text = Vec::new();
            let mut cur = pair;
            while let Some(Some((prev, sym))) = parent.get(&cur).cloned() {
                text.push(match sym {
                    Sym::Char(c) => c,
                    Sym::Other => other,
                });
                cur = prev;
            }
            return Some(text.into_iter().rev().collect());
        }
        if prune(&pair.0, &pair.1) {
            continue;
        }
        for &sym in &syms {
            let next = (a.step(&pair.0, sym), b.step(&pair.1, sym));
            if !parent.contains_key(&next) {
                parent.insert(next.clone(), Some((pair.clone(), sym)));
                queue.push_back(next);
            }
        }
    }
    None
}

/// The shortest text both patterns match, if any.
pub fn overlap(a: &Nfa, b: &Nfa) -> Option<String> {
    search(
        a,
        b,
        |sa, sb| a.accepts(sa) && b.accepts(sb),
        |sa, sb| sa.is_empty() || sb.is_empty(),
    )
}

/// Whether every text `a` matches is also matched by `b`.
pub fn is_subset(a: &Nfa, b: &Nfa) -> bool {
    search(
        a,
        b,
        |sa, sb| a.accepts(sa) && !b.accepts(sb),
        |sa, _| sa.is_empty(),
    )
    .is_none()
}

/// How two patterns relate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relation {
    /// No text matches both.
    Disjoint,
    /// `a` matches a strict subset of what `b` matches: `a` is more specific and wins.
    FirstMoreSpecific,
    /// The reverse.
    SecondMoreSpecific,
    /// Both match exactly the same texts, e.g. `[a]` and `[b]`.
    Same { witness: String },
    /// Some text matches both and neither is more specific.
    Ambiguous { witness: String },
}

/// Relates two patterns.
pub fn relate(a: &Nfa, b: &Nfa) -> Relation {
    let Some(witness) = overlap(a, b) else {
        return Relation::Disjoint;
    };
    match (is_subset(a, b), is_subset(b, a)) {
        (true, true) => Relation::Same { witness },
        (true, false) => Relation::FirstMoreSpecific,
        (false, true) => Relation::SecondMoreSpecific,
        (false, false) => Relation::Ambiguous { witness },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bennettbot_pattern::{match_segments, parse_pattern};

    fn nfa(p: &str) -> Nfa {
        Nfa::new(&parse_pattern(p).unwrap())
    }

    fn rel(a: &str, b: &str) -> Relation {
        relate(&nfa(a), &nfa(b))
    }

    #[test]
    fn literal_beats_param() {
        assert_eq!(
            rel("deploy now", "deploy [env]"),
            Relation::FirstMoreSpecific
        );
        assert_eq!(
            rel("deploy [env]", "deploy now"),
            Relation::SecondMoreSpecific
        );
    }

    #[test]
    fn disjoint_commands() {
        assert_eq!(rel("hello", "hello [name]"), Relation::Disjoint);
        assert_eq!(rel("poem", "hello [name]"), Relation::Disjoint);
    }

    #[test]
    fn partial_overlap_is_ambiguous_with_a_witness_both_match() {
        let Relation::Ambiguous { witness } = rel("[a] now", "deploy [b]") else {
            panic!("expected ambiguity");
        };
        for p in ["[a] now", "deploy [b]"] {
            assert!(
                match_segments(&parse_pattern(p).unwrap(), &witness).is_some(),
                "{p} on {witness}"
            );
        }
    }

    #[test]
    fn renamed_params_are_the_same_command() {
        assert!(matches!(rel("show [x]", "show [y]"), Relation::Same { .. }));
    }

    #[test]
    fn multi_param_nesting() {
        // `[a] [b]` (two words at least) is strictly inside `[c]`.
        assert_eq!(rel("x [a] [b]", "x [c]"), Relation::FirstMoreSpecific);
        assert_eq!(
            rel("tail [a] [b]", "tail error [c]"),
            Relation::SecondMoreSpecific
        );
    }
}
