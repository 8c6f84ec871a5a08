//! Rows bound as one array per column on PostgreSQL: `SELECT … FROM unnest($1::int8[], …)`. A
//! statement then binds a few parameters whatever its row count, in binary, and its text does not
//! change with the number of rows, so each connection parses and plans it once. Binding one
//! placeholder per value (a new statement text for every row count) cost more than the writes
//! themselves (BENCHMARKS.md). A column with NULLs goes with a `bool[]` mask of them: the binder
//! takes arrays of values, not of optional values.

use chrono::DateTime;
use sea_orm::{Value, sea_query::ArrayType};
use uuid::Uuid;

use super::Params;

/// The element type of a column's array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    BigInt,
    Text,
    Uuid,
    Time,
    Bool,
    /// Sent as text, read back as `json`.
    Json,
}

impl Kind {
    fn of(value: &Value) -> Option<Self> {
        Some(match value {
            Value::BigInt(_) | Value::Int(_) | Value::SmallInt(_) | Value::Unsigned(_) => {
                Self::BigInt
            }
            Value::String(_) => Self::Text,
            Value::Uuid(_) => Self::Uuid,
            Value::ChronoDateTimeUtc(_) => Self::Time,
            Value::Bool(_) => Self::Bool,
            Value::Json(_) => Self::Json,
            _ => return None,
        })
    }

    fn array(self) -> (ArrayType, &'static str) {
        match self {
            Self::BigInt => (ArrayType::BigInt, "int8[]"),
            Self::Text | Self::Json => (ArrayType::String, "text[]"),
            Self::Uuid => (ArrayType::Uuid, "uuid[]"),
            Self::Time => (ArrayType::ChronoDateTimeUtc, "timestamptz[]"),
            Self::Bool => (ArrayType::Bool, "bool[]"),
        }
    }

    /// What stands in an array for a NULL (masked out when read).
    fn filler(self) -> Value {
        match self {
            Self::BigInt => Value::BigInt(Some(0)),
            Self::Text | Self::Json => Value::String(Some(String::new())),
            Self::Uuid => Value::Uuid(Some(Uuid::nil())),
            Self::Time => Value::ChronoDateTimeUtc(Some(DateTime::UNIX_EPOCH)),
            Self::Bool => Value::Bool(Some(false)),
        }
    }

    /// `value` (of this kind, see [`arrayable`]) as an element of this kind's array, moved rather
    /// than copied: `None` for NULL.
    fn element(self, value: Value) -> Option<Value> {
        match value {
            Value::BigInt(v) => v.map(Value::from),
            Value::Int(v) => v.map(|v| Value::from(i64::from(v))),
            Value::SmallInt(v) => v.map(|v| Value::from(i64::from(v))),
            Value::Unsigned(v) => v.map(|v| Value::from(i64::from(v))),
            Value::Json(v) => v.map(|json| Value::from(json.to_string())),
            Value::String(None)
            | Value::Uuid(None)
            | Value::ChronoDateTimeUtc(None)
            | Value::Bool(None) => None,
            other => Some(other),
        }
    }
}

/// Whether [`select_rows`] reads `rows`: every value of a column of one kind it takes.
pub fn arrayable(rows: &[Vec<Value>]) -> bool {
    let Some(first) = rows.first() else {
        return false;
    };
    let Some(kinds) = first.iter().map(Kind::of).collect::<Option<Vec<Kind>>>() else {
        return false;
    };
    rows.iter().all(|row| {
        row.len() == kinds.len()
            && row
                .iter()
                .zip(&kinds)
                .all(|(value, kind)| Kind::of(value) == Some(*kind))
    })
}

/// `SELECT c0, c1, … FROM unnest($1::int8[], …) AS u(c0, …)`: `rows` (one value per column, of
/// one type per column) as a query, its arrays bound to `params`; the values are moved into the
/// arrays, not copied. `Err` gives the rows back when a column's type has no array here or the
/// rows disagree on it ([`arrayable`]); the caller then binds each value.
pub fn select_rows(rows: Vec<Vec<Value>>, params: &mut Params) -> Result<String, Vec<Vec<Value>>> {
    if !arrayable(&rows) {
        return Err(rows);
    }
    let kinds: Vec<Kind> = rows[0].iter().filter_map(Kind::of).collect();
    let count = rows.len();
    // Each column's elements and, from its first NULL on, its mask (most columns have none).
    let mut columns: Vec<(Vec<Value>, Option<Vec<bool>>)> = kinds
        .iter()
        .map(|_| (Vec::with_capacity(count), None))
        .collect();
    for row in rows {
        for ((value, kind), (elements, nulls)) in row.into_iter().zip(&kinds).zip(&mut columns) {
            let element = kind.element(value);
            if element.is_none() && nulls.is_none() {
                let mut mask = Vec::with_capacity(count);
                mask.resize(elements.len(), false);
                *nulls = Some(mask);
            }
            if let Some(mask) = nulls {
                mask.push(element.is_none());
            }
            elements.push(element.unwrap_or_else(|| kind.filler()));
        }
    }
    let (mut arrays, mut names, mut selected) = (Vec::new(), Vec::new(), Vec::new());
    for (index, (kind, (elements, nulls))) in kinds.iter().zip(columns).enumerate() {
        let (array_type, sql_type) = kind.array();
        let placeholder = params.bind(Value::Array(array_type, Some(Box::new(elements))));
        arrays.push(format!("{placeholder}::{sql_type}"));
        names.push(format!("c{index}"));
        let read = match kind {
            Kind::Json => format!("c{index}::json"),
            _ => format!("c{index}"),
        };
        if let Some(nulls) = nulls {
            let nulls = nulls.into_iter().map(Value::from).collect();
            let placeholder = params.bind(Value::Array(ArrayType::Bool, Some(Box::new(nulls))));
            arrays.push(format!("{placeholder}::bool[]"));
            names.push(format!("n{index}"));
            selected.push(format!("CASE WHEN n{index} THEN NULL ELSE {read} END"));
        } else {
            selected.push(read);
        }
    }
    Ok(format!(
        "SELECT {} FROM unnest({}) AS u({})",
        selected.join(", "),
        arrays.join(", "),
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use sea_orm::DbBackend;

    use super::*;

    #[test]
    fn a_column_with_nulls_is_read_through_its_mask() {
        let rows = vec![
            vec![Value::from(1_i64), Value::from(Some("a".to_owned()))],
            vec![Value::from(2_i64), Value::String(None)],
        ];
        let mut params = Params::new(DbBackend::Postgres);
        assert!(arrayable(&rows));
        let select = select_rows(rows, &mut params).expect("arrays");
        assert_eq!(
            select,
            "SELECT c0, CASE WHEN n1 THEN NULL ELSE c1 END FROM unnest($1::int8[], $2::text[], \
             $3::bool[]) AS u(c0, c1, n1)"
        );
        assert_eq!(params.len(), 3);
    }

    #[test]
    fn rows_that_disagree_on_a_column_type_are_not_read_as_arrays() {
        let rows = vec![vec![Value::from(1_i64)], vec![Value::from("one")]];
        assert!(!arrayable(&rows));
        assert_eq!(
            select_rows(rows.clone(), &mut Params::new(DbBackend::Postgres)),
            Err(rows),
            "the rows come back"
        );
    }
}
