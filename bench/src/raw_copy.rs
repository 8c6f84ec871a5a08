//! PostgreSQL `COPY … FROM STDIN` in text format: rows encoded as tab-separated lines and streamed
//! in one message per table, in the batch's transaction.

use std::fmt::Write as _;

use anyhow::{Context as _, bail};
use chrono::SecondsFormat;
use sea_orm::{
    Value,
    sqlx::{Postgres, Transaction},
};
use tally::store::Table;

/// Copies `rows` into `table` within `txn`.
pub async fn copy_rows(
    txn: &mut Transaction<'static, Postgres>,
    table: &Table,
    rows: &[Vec<Value>],
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut data = String::with_capacity(rows.len() * table.columns.len() * 16);
    for row in rows {
        for (position, value) in row.iter().enumerate() {
            if position > 0 {
                data.push('\t');
            }
            encode(value, &mut data)
                .with_context(|| format!("{}.{}", table.name, table.columns[position]))?;
        }
        data.push('\n');
    }
    let statement = format!(
        "COPY {} ({}) FROM STDIN",
        table.name,
        table.columns.join(", ")
    );
    let mut copy = txn
        .copy_in_raw(&statement)
        .await
        .with_context(|| format!("cannot start {statement}"))?;
    copy.send(data.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// Appends a value in `COPY` text format: `\N` for NULL, text with backslash escapes.
fn encode(value: &Value, out: &mut String) -> anyhow::Result<()> {
    match value {
        Value::Uuid(Some(id)) => {
            let _ = write!(out, "{}", id.hyphenated());
        }
        Value::BigInt(Some(number)) => {
            let _ = write!(out, "{number}");
        }
        Value::Bool(Some(flag)) => out.push(if *flag { 't' } else { 'f' }),
        Value::String(Some(text)) => escape(text, out),
        Value::ChronoDateTimeUtc(Some(time)) => {
            out.push_str(&time.to_rfc3339_opts(SecondsFormat::Micros, true));
        }
        Value::Json(Some(json)) => escape(&json.to_string(), out),
        Value::Uuid(None)
        | Value::BigInt(None)
        | Value::Bool(None)
        | Value::String(None)
        | Value::ChronoDateTimeUtc(None)
        | Value::Json(None) => out.push_str("\\N"),
        other => bail!("no COPY encoding for {other:?}"),
    }
    Ok(())
}

/// Escapes the characters `COPY` text format gives a meaning to.
fn escape(text: &str, out: &mut String) {
    for character in text.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_separators_and_writes_null() {
        let mut out = String::new();
        encode(&Value::String(Some("a\tb\\c\nd".into())), &mut out).unwrap();
        out.push('|');
        encode(&Value::BigInt(None), &mut out).unwrap();
        assert_eq!(out, "a\\tb\\\\c\\nd|\\N");
    }
}
