//! A small RFC 4180 reader for contact lists: quoted fields (with `""` for a quote and line
//! breaks inside quotes), CRLF or LF line ends, a UTF-8 byte order mark, and `;` as the
//! separator when the header has semicolons and no commas (what spreadsheets write in many
//! European locales). Each record carries the line where it starts, so refusals can name it.

use crate::{Error, Result};

/// One record: the line it starts on (1-based) and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// Splits `text` into records. Blank lines are skipped (they still count for line numbers).
/// A quote that is never closed is an [`Error::Invalid`] naming the line where it opened.
pub(crate) fn parse(text: &str) -> Result<Vec<Record>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let header_line = text.lines().next().unwrap_or("");
    let sep = if !header_line.contains(',') && header_line.contains(';') {
        ';'
    } else {
        ','
    };
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut record_line = 1;
    let mut in_quotes = false;
    let mut quote_line = 0;
    let mut chars = text.chars().peekable();
    let mut at_record_start = true;
    while let Some(c) = chars.next() {
        if at_record_start {
            record_line = line;
            at_record_start = false;
        }
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() => {
                field.clear();
                in_quotes = true;
                quote_line = line;
            }
            c if c == sep => fields.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                push_record(&mut records, record_line, std::mem::take(&mut fields));
                line += 1;
                at_record_start = true;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(Error::Invalid(format!(
            "line {quote_line}: a quoted field is never closed"
        )));
    }
    if !at_record_start {
        fields.push(field);
        push_record(&mut records, record_line, fields);
    }
    Ok(records)
}

fn push_record(records: &mut Vec<Record>, line: usize, fields: Vec<String>) {
    let blank = fields.len() == 1 && fields[0].trim().is_empty();
    if !blank {
        records.push(Record { line, fields });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<(usize, Vec<String>)> {
        parse(text)
            .expect("parses")
            .into_iter()
            .map(|r| (r.line, r.fields))
            .collect()
    }

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn quotes_line_breaks_and_blank_lines() {
        let text = "\u{feff}number,name\r\n+4930123456,\"Lovelace, Ada\"\r\n\r\n\"+44 20\",\"say \"\"hi\"\"\nthere\"\n+1,\n";
        assert_eq!(
            fields(text),
            vec![
                (1, v(&["number", "name"])),
                (2, v(&["+4930123456", "Lovelace, Ada"])),
                (4, v(&["+44 20", "say \"hi\"\nthere"])),
                (6, v(&["+1", ""])),
            ]
        );
    }

    #[test]
    fn semicolons_and_no_final_newline() {
        assert_eq!(
            fields("number;name\n030 1234;Jörg"),
            vec![(1, v(&["number", "name"])), (2, v(&["030 1234", "Jörg"]))]
        );
    }

    #[test]
    fn unclosed_quote_names_its_line() {
        let err = parse("number\n1\n\"2\n3\n").expect_err("unclosed");
        assert!(err.to_string().contains("line 3"), "{err}");
    }
}
