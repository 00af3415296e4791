//! Random queries over [`super::tables`]: joins, subqueries of every form (scalar, EXISTS, IN,
//! ANY/ALL; correlated with equality and other comparisons, nested, in CASE, in HAVING),
//! aggregates with GROUP BY / HAVING, CASE, BETWEEN, IN lists with NULLs, DISTINCT, and ORDER BY
//! with LIMIT on unique keys. Every query is valid PostgreSQL; the same seed gives the same query.
//!
//! Names are always qualified by a table alias of their own (`r1.a`), so that what a reference
//! means (a column of this query or of an outer one: a correlation) is never left to name
//! resolution rules.

use super::rng::Rng;
use super::tables::{int_columns, TABLES};

/// One generated query.
pub struct Query {
    pub sql: String,
    /// Whether its rows come in an order both databases must keep (ORDER BY on unique keys).
    pub ordered: bool,
}

/// The tables visible at one level of nesting: (alias, the integer columns that may be used).
type Scope = Vec<(String, Vec<&'static str>)>;

pub struct QueryGenerator {
    rng: Rng,
    aliases: usize,
    subqueries: usize,
}

/// At most this many subqueries in one query, nested at most [`MAX_NESTING`] deep.
const MAX_SUBQUERIES: usize = 3;
const MAX_NESTING: usize = 3;

impl QueryGenerator {
    /// The generator of query number `index` of the run seeded `seed`.
    pub fn new(seed: u64, index: u64) -> Self {
        let mut rng = Rng::new(seed.wrapping_mul(0x1000_0000_01b3) ^ index.wrapping_mul(0x9e37_79b9));
        rng.next_u64();
        QueryGenerator { rng, aliases: 0, subqueries: 0 }
    }

    pub fn query(&mut self) -> Query {
        if self.rng.chance(0.3) {
            self.grouped()
        } else {
            self.plain()
        }
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("r{}", self.aliases)
    }

    fn table(&mut self) -> &'static str {
        // The empty table less often: most queries should have rows to get wrong.
        let tables: Vec<&str> = TABLES.iter().map(|(t, _, _)| *t).collect();
        if self.rng.chance(0.08) {
            tables[tables.len() - 1]
        } else {
            tables[self.rng.below(tables.len() - 1)]
        }
    }

    /// A FROM clause of one table or two joined; the aliases it defines.
    fn from_clause(&mut self, outer: &[Scope]) -> (String, Scope) {
        let first = self.alias();
        let table = self.table();
        let mut scope: Scope = vec![(first.clone(), int_columns().collect())];
        if self.rng.chance(0.6) {
            return (format!("{table} AS {first}"), scope);
        }
        let second = self.alias();
        let other = self.table();
        scope.push((second.clone(), int_columns().collect()));
        let join = self.rng.pick(&["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", ","]);
        if join == "," {
            return (format!("{table} AS {first}, {other} AS {second}"), scope);
        }
        // ON compares the two tables, and sometimes more; an inner join's may hold subqueries
        // (an outer join's squall refuses, 0A000).
        let mut on = format!("{first}.{} {} {second}.{}", self.int_column(), self.comparison(), self.int_column());
        if self.rng.chance(0.3) {
            let connective = self.rng.pick(&["AND", "OR"]);
            let more = if join == "JOIN" && self.rng.chance(0.5) {
                let scopes = outer.iter().cloned().chain([scope.clone()]).collect::<Vec<_>>();
                self.bool_expr(&scopes, 1)
            } else {
                self.simple_predicate(&scope, outer)
            };
            on = format!("{on} {connective} {more}");
        }
        (format!("{table} AS {first} {join} {other} AS {second} ON {on}"), scope)
    }

    fn int_column(&mut self) -> &'static str {
        let columns: Vec<&str> = int_columns().collect();
        self.rng.pick(&columns)
    }

    fn comparison(&mut self) -> &'static str {
        self.rng.pick(&["=", "<>", "<", "<=", ">", ">="])
    }

    fn plain(&mut self) -> Query {
        let (from, scope) = self.from_clause(&[]);
        let scopes = vec![scope.clone()];
        let distinct = self.rng.chance(0.1);
        let items: Vec<String> = (0..1 + self.rng.below(3))
            .map(|_| if self.rng.chance(0.2) { self.bool_expr(&scopes, 2) } else { self.int_expr(&scopes, 2) })
            .collect();
        let mut sql = format!("SELECT {}{} FROM {from}", if distinct { "DISTINCT " } else { "" }, items.join(", "));
        if self.rng.chance(0.7) {
            sql = format!("{sql} WHERE {}", self.bool_expr(&scopes, 3));
        }
        let ordered = !distinct && self.rng.chance(0.3);
        if ordered {
            let keys: Vec<String> = scope.iter().map(|(alias, _)| format!("{alias}.id")).collect();
            let direction = self.rng.pick(&["", " DESC"]);
            let keys: Vec<String> = keys.iter().map(|k| format!("{k}{direction}")).collect();
            sql = format!("{sql} ORDER BY {} LIMIT {}", keys.join(", "), 1 + self.rng.below(5));
            if self.rng.chance(0.3) {
                sql = format!("{sql} OFFSET {}", self.rng.below(3));
            }
        }
        Query { sql, ordered }
    }

    fn grouped(&mut self) -> Query {
        let (from, scope) = self.from_clause(&[]);
        let scopes = vec![scope.clone()];
        let (alias, _) = scope[self.rng.below(scope.len())].clone();
        let key_column = self.rng.pick(&["a", "b", "c", "s"]);
        let key = format!("{alias}.{key_column}");
        let mut items = vec![key.clone()];
        for _ in 0..1 + self.rng.below(3) {
            items.push(self.aggregate(&scopes));
        }
        let mut sql = format!("SELECT {} FROM {from}", items.join(", "));
        if self.rng.chance(0.5) {
            sql = format!("{sql} WHERE {}", self.bool_expr(&scopes, 2));
        }
        sql = format!("{sql} GROUP BY {key}");
        if self.rng.chance(0.5) {
            // HAVING sees the group key and aggregates; a subquery there may refer to the key.
            let grouped_scope: Vec<Scope> =
                vec![vec![(alias.clone(), if key_column == "s" { vec![] } else { vec![key_column] })]];
            let left = self.aggregate(&scopes);
            let right = if self.subqueries < MAX_SUBQUERIES && self.rng.chance(0.4) {
                self.scalar_subquery(&grouped_scope)
            } else {
                self.rng.range(-2, 6).to_string()
            };
            sql = format!("{sql} HAVING {left} {} {right}", self.comparison());
        }
        let ordered = self.rng.chance(0.3);
        if ordered {
            sql = format!("{sql} ORDER BY 1{} LIMIT {}", self.rng.pick(&["", " DESC"]), 1 + self.rng.below(4));
        }
        Query { sql, ordered }
    }

    /// An aggregate over the rows of `scopes`' innermost level.
    fn aggregate(&mut self, scopes: &[Scope]) -> String {
        let argument = self.int_expr_without_subqueries(scopes, 1);
        match self.rng.below(7) {
            0 => "count(*)".to_string(),
            1 => format!("count({argument})"),
            2 => format!("sum({argument})"),
            3 => format!("min({argument})"),
            4 => format!("max({argument})"),
            5 => format!("avg({argument})"),
            _ => format!("count(DISTINCT {argument})"),
        }
    }

    fn int_expr_without_subqueries(&mut self, scopes: &[Scope], depth: usize) -> String {
        let budget = std::mem::replace(&mut self.subqueries, MAX_SUBQUERIES);
        let expr = self.int_expr(scopes, depth);
        self.subqueries = budget;
        expr
    }

    /// A column of the innermost level or, less often, of an outer one (a correlation).
    fn column(&mut self, scopes: &[Scope]) -> Option<String> {
        let level = if scopes.len() > 1 && self.rng.chance(0.35) { self.rng.below(scopes.len() - 1) } else { scopes.len() - 1 };
        let candidates: Vec<String> =
            scopes[level].iter().flat_map(|(alias, columns)| columns.iter().map(move |c| format!("{alias}.{c}"))).collect();
        if candidates.is_empty() {
            return None;
        }
        Some(candidates[self.rng.below(candidates.len())].clone())
    }

    fn literal(&mut self) -> String {
        if self.rng.chance(0.05) {
            "CAST(NULL AS INTEGER)".to_string()
        } else {
            self.rng.range(-2, 6).to_string()
        }
    }

    fn int_expr(&mut self, scopes: &[Scope], depth: usize) -> String {
        let leaf = |g: &mut Self| g.column(scopes).unwrap_or_else(|| g.literal());
        if depth == 0 {
            return if self.rng.chance(0.8) { leaf(self) } else { self.literal() };
        }
        match self.rng.below(100) {
            0..=34 => leaf(self),
            35..=44 => self.literal(),
            45..=59 => {
                let op = self.rng.pick(&["+", "-", "*"]);
                format!("({} {op} {})", self.int_expr(scopes, depth - 1), self.int_expr(scopes, depth - 1))
            }
            60..=67 => {
                let otherwise = if self.rng.chance(0.7) { format!(" ELSE {}", self.int_expr(scopes, depth - 1)) } else { String::new() };
                format!("CASE WHEN {} THEN {}{otherwise} END", self.bool_expr(scopes, depth - 1), self.int_expr(scopes, depth - 1))
            }
            68..=71 => format!("COALESCE({}, {})", self.int_expr(scopes, depth - 1), self.int_expr(scopes, depth - 1)),
            72..=75 => {
                let op = self.rng.pick(&["/", "%"]);
                format!("({} {op} NULLIF({}, 0))", self.int_expr(scopes, depth - 1), self.int_expr(scopes, depth - 1))
            }
            76..=79 => format!("abs({})", self.int_expr(scopes, depth - 1)),
            _ if self.subqueries < MAX_SUBQUERIES && scopes.len() < MAX_NESTING => self.scalar_subquery(scopes),
            _ => leaf(self),
        }
    }

    /// A new subquery's table and alias, and the levels its expressions see (the outer ones and
    /// its own); counts it against [`MAX_SUBQUERIES`].
    fn subquery_level(&mut self, scopes: &[Scope]) -> (String, &'static str, Vec<Scope>) {
        self.subqueries += 1;
        let alias = self.alias();
        let table = self.table();
        let mut inner = scopes.to_vec();
        inner.push(vec![(alias.clone(), int_columns().collect())]);
        (alias, table, inner)
    }

    /// `(SELECT ...)` giving one value: an aggregate (any correlation), a lookup by unique key,
    /// or a plain selection that may give several rows (an error in both databases).
    fn scalar_subquery(&mut self, scopes: &[Scope]) -> String {
        let (alias, table, inner) = self.subquery_level(scopes);
        let sql = match self.rng.below(10) {
            0..=5 => {
                let mut value = self.aggregate(&inner);
                if self.rng.chance(0.2) {
                    // An expression of the aggregate: on no rows, count(*) + 1 is 1, not NULL.
                    value = format!("{value} + {}", self.rng.range(1, 3));
                }
                let mut sql = format!("SELECT {value} FROM {table} AS {alias}");
                if self.rng.chance(0.85) {
                    sql = format!("{sql} WHERE {}", self.bool_expr(&inner, 2));
                }
                sql
            }
            6..=7 => {
                let key = self.int_expr(scopes, 1);
                let value = self.int_expr_without_subqueries(&inner[inner.len() - 1..], 1);
                format!("SELECT {value} FROM {table} AS {alias} WHERE {alias}.id = {key}")
            }
            8 => {
                let value = self.int_expr_without_subqueries(&inner, 1);
                format!(
                    "SELECT {value} FROM {table} AS {alias} WHERE {} ORDER BY {alias}.id{} LIMIT 1",
                    self.bool_expr(&inner, 2),
                    self.rng.pick(&["", " DESC"])
                )
            }
            _ => {
                let value = self.int_expr_without_subqueries(&inner, 1);
                format!("SELECT {value} FROM {table} AS {alias} WHERE {}", self.bool_expr(&inner, 2))
            }
        };
        format!("({sql})")
    }

    /// A subquery giving a set of integers (for IN, ANY and ALL).
    fn set_subquery(&mut self, scopes: &[Scope]) -> String {
        let (alias, table, inner) = self.subquery_level(scopes);
        let distinct = if self.rng.chance(0.15) { "DISTINCT " } else { "" };
        let value = self.int_expr_without_subqueries(&inner, 1);
        let mut sql = format!("SELECT {distinct}{value} FROM {table} AS {alias}");
        if self.rng.chance(0.8) {
            sql = format!("{sql} WHERE {}", self.bool_expr(&inner, 2));
        }
        sql
    }

    /// A subquery for EXISTS: any rows, possibly grouped or limited.
    fn exists_subquery(&mut self, scopes: &[Scope]) -> String {
        let (alias, table, inner) = self.subquery_level(scopes);
        let selected = self.rng.pick(&["1", "*", "NULL"]);
        let mut sql = format!("SELECT {selected} FROM {table} AS {alias}");
        if self.rng.chance(0.85) {
            sql = format!("{sql} WHERE {}", self.bool_expr(&inner, 2));
        }
        match self.rng.below(10) {
            0 => sql = format!("SELECT {alias}.a FROM {table} AS {alias} GROUP BY {alias}.a HAVING count(*) > {}", self.rng.range(0, 2)),
            1 => sql = format!("{sql} LIMIT 1"),
            _ => {}
        }
        sql
    }

    /// A predicate without subqueries (for ON clauses).
    fn simple_predicate(&mut self, scope: &Scope, outer: &[Scope]) -> String {
        let mut scopes = outer.to_vec();
        scopes.push(scope.clone());
        let left = self.int_expr_without_subqueries(&scopes, 1);
        format!("{left} {} {}", self.comparison(), self.literal())
    }

    fn bool_expr(&mut self, scopes: &[Scope], depth: usize) -> String {
        let can_nest = self.subqueries < MAX_SUBQUERIES && scopes.len() < MAX_NESTING;
        let comparison = |g: &mut Self| {
            let op = g.comparison();
            format!("{} {op} {}", g.int_expr(scopes, depth.saturating_sub(1)), g.int_expr(scopes, depth.saturating_sub(1)))
        };
        if depth == 0 {
            return comparison(self);
        }
        match self.rng.below(100) {
            0..=24 => comparison(self),
            25..=31 => format!("{} IS {}NULL", self.int_expr(scopes, depth - 1), self.not()),
            32..=36 => format!(
                "{} {}BETWEEN {} AND {}",
                self.int_expr(scopes, depth - 1),
                self.not(),
                self.int_expr(scopes, 0),
                self.int_expr(scopes, 0)
            ),
            37..=43 => {
                let mut list: Vec<String> = (0..1 + self.rng.below(3)).map(|_| self.rng.range(-2, 6).to_string()).collect();
                if self.rng.chance(0.25) {
                    list.push("NULL".to_string());
                }
                format!("{} {}IN ({})", self.int_expr(scopes, depth - 1), self.not(), list.join(", "))
            }
            44..=57 => {
                let op = self.rng.pick(&["AND", "OR"]);
                format!("({} {op} {})", self.bool_expr(scopes, depth - 1), self.bool_expr(scopes, depth - 1))
            }
            58..=61 => format!("NOT ({})", self.bool_expr(scopes, depth - 1)),
            62..=67 => {
                let column = self.text_column(scopes);
                match self.rng.below(4) {
                    0 => format!("{column} = '{}'", self.rng.pick(&["a", "b", "ab"])),
                    1 => format!("{column} {}LIKE '{}'", self.not(), self.rng.pick(&["a%", "%b", "_"])),
                    2 => format!("{column} IS {}NULL", self.not()),
                    _ => format!("{column} < '{}'", self.rng.pick(&["a", "b", "B"])),
                }
            }
            68..=76 if can_nest => format!("{}EXISTS ({})", self.not(), self.exists_subquery(scopes)),
            77..=86 if can_nest => {
                let value = self.int_expr(scopes, depth - 1);
                format!("{value} {}IN ({})", self.not(), self.set_subquery(scopes))
            }
            87..=93 if can_nest => {
                let value = self.int_expr(scopes, depth - 1);
                let op = self.comparison();
                format!("{value} {op} {} ({})", self.rng.pick(&["ANY", "ALL", "SOME"]), self.set_subquery(scopes))
            }
            _ => comparison(self),
        }
    }

    fn not(&mut self) -> &'static str {
        if self.rng.chance(0.4) {
            "NOT "
        } else {
            ""
        }
    }

    /// A text column of the innermost level (the text column `s` of one of its tables).
    fn text_column(&mut self, scopes: &[Scope]) -> String {
        let level = &scopes[scopes.len() - 1];
        let (alias, _) = &level[self.rng.below(level.len())];
        format!("{alias}.s")
    }
}
