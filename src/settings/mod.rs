//! The one settings layer between the front ends and the library's options.
//!
//! Every front end (the command line's flags, a jobs file's keys) fills the same *settings*:
//! values as the user wrote them (`"64MiB"`, `"zstd"`, `"2m"`), every one optional, so a value
//! not given takes the library's default. Settings are validated once, here, into the
//! library's options ([`EngineOptions`](crate::convert::EngineOptions),
//! [`DestinationOptions`](crate::sink::DestinationOptions),
//! [`ExportJob`](crate::export::ExportJob),
//! [`ConnectionConfig`](crate::anaplan::ConnectionConfig)). A bad value is an
//! [`Error::InvalidSetting`] naming the setting canonically (its jobs-file key); each front end
//! shows that name in its own words with [`Error::naming_setting`] (`--row-group-bytes` on the
//! command line, `` `row_group_bytes` `` in a jobs file), so the problem reads the same from
//! both and no message is ever rewritten.
//!
//! | setting (jobs-file key) | flag                     | value                            |
//! |-------------------------|--------------------------|----------------------------------|
//! | `concurrency`           | `--concurrency`          | 1 to 64 chunk downloads          |
//! | `poll_interval`         | `--poll-interval`        | a duration, more than 0          |
//! | `task_timeout`          | `--task-timeout`         | a duration, 0 for no limit       |
//! | `locale`                | `--locale`               | text                             |
//! | `delimiter`             | `--delimiter`            | one ASCII character, or `tab`    |
//! | `encoding`              | `--encoding`             | a name of [`engine::ENCODINGS`]  |
//! | `layout`                | `--layout`               | a name of [`engine::LAYOUTS`]    |
//! | `infer_rows`            | `--infer-rows`           | a positive number, or `all`      |
//! | `types`                 | `--type COL=TYPE`        | column → type (a table)          |
//! | `schema`                | `--schema`               | a JSON file of column → type     |
//! | `value_number`          | `--no-value-number`      | a boolean (the flag gives false) |
//! | `compression`           | `--compression`          | a name of [`engine::CODECS`]     |
//! | `row_group_rows`        | `--row-group-rows`       | a number, at least 1             |
//! | `row_group_bytes`       | `--row-group-bytes`      | a size, at least 1MiB            |
//! | `mode`                  | `--mode`                 | a name of [`output::MODES`]      |
//! | `if_exists`             | `--if-exists`            | a name of [`output::IF_EXISTS`]  |
//! | `partition_by_date`     | `--partition-by-date`    | a boolean                        |
//! | `s3_endpoint`           | `--s3-endpoint`          | an http(s) URL                   |
//! | `s3_region`             | `--s3-region`            | text                             |
//! | `s3_path_style`         | `--s3-path-style`        | a boolean                        |
//! | `allow_http`            | `--allow-http`           | a boolean                        |
//! | `storage_options`       | `--storage-option K=V`   | key → value (a table)            |
//! | `upload_part_size`      | `--upload-part-size`     | a size, 5MiB to 5GiB             |
//! | `upload_concurrency`    | `--upload-concurrency`   | a number                         |
//! | `upload_retries`        | `--upload-retries`       | a number                         |
//! | `upload_retry_timeout`  | `--upload-retry-timeout` | a duration                       |
//! | `format`                | `--format`               | a name of [`output::FORMATS`]    |
//! | `schema_mode`           | `--schema-mode`          | a name of [`output::SCHEMA_MODES`] |
//! | `retry_timeout`, `request_timeout`, `read_timeout` | the same, kebab-case | a duration |
//!
//! Sizes and durations are read by [`crate::units`] everywhere, so `64MB` means the same in a
//! flag, a jobs file and a config file. The connection settings ([`connection`]) add the order
//! of their sources: flags, then the environment, then a config file.

pub(crate) mod connection;
pub(crate) mod engine;
pub(crate) mod export;
pub(crate) mod output;

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};

pub(crate) use connection::{ConfigFile, ConnectionSettings, Context, Resolved};
pub(crate) use engine::EngineSettings;
pub(crate) use export::ExportSettings;
pub(crate) use output::{OutputSettings, StorageOptionText};

/// One allowed value of a setting that takes a name, such as `compression = "zstd"`.
#[derive(Debug)]
pub(crate) struct Choice<T: 'static> {
    /// The name shown in help and messages.
    pub name: &'static str,
    /// Other spellings accepted.
    pub aliases: &'static [&'static str],
    /// A line for `--help`.
    pub help: &'static str,
    /// What it means.
    pub value: T,
}

/// The value named `given` (case and surrounding spaces do not matter).
pub(crate) fn choose<T: Copy>(
    setting: &'static str,
    choices: &[Choice<T>],
    given: &str,
) -> Result<T> {
    let wanted = given.trim();
    choices
        .iter()
        .find(|c| {
            c.name.eq_ignore_ascii_case(wanted)
                || c.aliases.iter().any(|a| a.eq_ignore_ascii_case(wanted))
        })
        .map(|c| c.value)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|c| c.name).collect();
            Error::invalid_setting(
                setting,
                format!("expected one of {}, not {given:?}", names.join(", ")),
            )
        })
}

/// The value named by `given`, or `default` when nothing is given.
pub(crate) fn choose_or<T: Copy>(
    setting: &'static str,
    choices: &[Choice<T>],
    given: Option<&str>,
    default: T,
) -> Result<T> {
    given.map_or(Ok(default), |g| choose(setting, choices, g))
}

/// A size setting (`64MiB`, `10MB`, `1048576`), by [`crate::units::parse_size`].
pub(crate) fn size(setting: &'static str, text: &str) -> Result<u64> {
    crate::units::parse_size(text).map_err(|problem| Error::invalid_setting(setting, problem))
}

/// A duration setting (`90s`, `2m`, `1h 30m`), by [`crate::units::parse_duration`].
pub(crate) fn duration(setting: &'static str, text: &str) -> Result<Duration> {
    crate::units::parse_duration(text).map_err(|problem| Error::invalid_setting(setting, problem))
}

/// A TOML file's syntax or type error on one line: where it is and what is wrong, without the
/// quoted line the parser would show, which may hold a secret (`password = "hunter2` with its
/// closing quote missing), and without a value serde would quote ([`without_values`]).
pub(crate) fn toml_error(e: &toml::de::Error, text: &str) -> String {
    let message = without_values(e.message());
    match e.span() {
        Some(span) => format!("{}: {message}", line_column(text, span.start)),
        None => message,
    }
}

/// `line L, column C` of the byte `offset` of `text` (both counted from 1, columns in
/// characters).
pub(crate) fn line_column(text: &str, offset: usize) -> String {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let column = before[line_start..].chars().count() + 1;
    format!("line {line}, column {column}")
}

/// A serde or TOML message on one line, without the value it quotes: `invalid type: string
/// "hunter2", expected u32` becomes `invalid type: string, expected u32`. Files that may hold
/// secrets (a config file, a jobs file) report their errors through this, so a secret given
/// with the wrong type, or under a mistyped key, is never echoed. Keys are still named.
pub(crate) fn without_values(message: &str) -> String {
    let message = one_line(message);
    for lead in ["invalid type: ", "invalid value: ", "unknown variant "] {
        let Some(start) = message.find(lead) else {
            continue;
        };
        let from = start + lead.len();
        // serde writes `<what was found>, expected <what we wanted>`; the second half is ours,
        // the first may quote the value (which may itself hold ", expected").
        let Some(len) = message[from..].rfind(", expected") else {
            continue;
        };
        let found = &message[from..from + len];
        let kind_end = found.find(['`', '"']).unwrap_or(found.len());
        let head = format!("{}{}", &message[..from], &found[..kind_end]);
        return format!("{}{}", head.trim_end(), &message[from + len..]);
    }
    message
}

/// A multi-line message (serde's, TOML's) on one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A value a file may give as a number or as text (`infer_rows = 500` or `"all"`, a size as
/// `1048576` or `"64MiB"`), kept as text for the settings' own parsers.
pub(crate) fn number_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(u64),
        Text(String),
    }
    Ok(Option::<NumberOrText>::deserialize(d)?.map(|v| match v {
        NumberOrText::Number(n) => n.to_string(),
        NumberOrText::Text(s) => s,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Colour {
        Red,
        Green,
    }

    const COLOURS: &[Choice<Colour>] = &[
        Choice {
            name: "red",
            aliases: &["rouge"],
            help: "",
            value: Colour::Red,
        },
        Choice {
            name: "green",
            aliases: &[],
            help: "",
            value: Colour::Green,
        },
    ];

    #[test]
    fn choices_by_name_or_alias_in_any_case() {
        assert_eq!(choose("colour", COLOURS, " Green ").unwrap(), Colour::Green);
        assert_eq!(choose("colour", COLOURS, "ROUGE").unwrap(), Colour::Red);
        let e = choose("colour", COLOURS, "blue").unwrap_err();
        assert_eq!(
            e.to_string(),
            "colour: expected one of red, green, not \"blue\""
        );
    }

    #[test]
    fn toml_errors_never_quote_the_line() {
        let text = "username = \"u\"\npassword = \"hunter2\n";
        let e = toml::from_str::<toml::Table>(text).unwrap_err();
        let shown = toml_error(&e, text);
        assert!(shown.starts_with("line 2, column "), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            e.to_string().contains("hunter2"),
            "the test needs a snippet to hide"
        );
    }

    #[test]
    fn serde_messages_lose_the_values_they_quote() {
        for (given, shown) in [
            (
                "invalid type: string \"hunter2\", expected u32",
                "invalid type: string, expected u32",
            ),
            (
                "invalid type: string \"a, expected b `c\", expected a boolean",
                "invalid type: string, expected a boolean",
            ),
            (
                "invalid type: integer `987654321`, expected a string",
                "invalid type: integer, expected a string",
            ),
            (
                "invalid type: floating point `1.5`, expected a string",
                "invalid type: floating point, expected a string",
            ),
            (
                "invalid type: sequence, expected a string",
                "invalid type: sequence, expected a string",
            ),
            (
                "invalid value: string \"s3cret\", expected one of a, b",
                "invalid value: string, expected one of a, b",
            ),
            (
                "unknown variant `s3cret`, expected `a` or `b`",
                "unknown variant, expected `a` or `b`",
            ),
            (
                "unknown field `pasword`, expected one of `password_file`",
                "unknown field `pasword`, expected one of `password_file`",
            ),
            ("duplicate key", "duplicate key"),
        ] {
            assert_eq!(without_values(given), shown);
        }
    }

    #[test]
    fn toml_type_errors_keep_their_place_and_lose_their_value() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Retries {
            max_retries: u32,
        }
        let text = "\nmax_retries = \"hunter2\"\n";
        let e = toml::from_str::<Retries>(text).unwrap_err();
        assert!(
            e.to_string().contains("hunter2"),
            "the test needs a value to hide"
        );
        let shown = toml_error(&e, text);
        assert!(
            shown.starts_with("line 2, column 15: invalid type: string"),
            "{shown}"
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn sizes_and_durations_name_their_setting() {
        assert_eq!(size("row_group_bytes", "2MiB").unwrap(), 2 << 20);
        let e = size("row_group_bytes", "ten").unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidSetting {
                setting: "row_group_bytes",
                ..
            }
        ));
        assert!(e.to_string().contains("not a size: \"ten\""), "{e}");
        let e = duration("poll_interval", "soon").unwrap_err();
        assert!(
            e.to_string().starts_with("poll_interval: not a duration"),
            "{e}"
        );
    }
}
