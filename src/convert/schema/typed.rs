//! Text columns to typed Arrow arrays, with the same parsers inference uses (see
//! [`super::parse`]), so a value that inference accepted always converts; and the
//! `Value_number` companion column.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};

use super::parse::{
    parse_bool, parse_date, parse_f64_exact, parse_f64_lenient, parse_i64, parse_timestamp,
};
use super::types::ColumnType;

/// A value that does not fit its column's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Misfit {
    /// Row index within the array.
    pub row: usize,
}

/// Converts a text column to `ty`. Nulls stay null; the first value that does not parse is
/// reported.
pub fn convert_column(text: &Arc<StringArray>, ty: ColumnType) -> Result<ArrayRef, Misfit> {
    let nulls = text.nulls().cloned();
    Ok(match ty {
        ColumnType::Utf8 => Arc::clone(text) as ArrayRef,
        ColumnType::Int64 => Arc::new(Int64Array::new(parse_values(text, parse_i64)?, nulls)),
        ColumnType::Float64 => Arc::new(Float64Array::new(
            parse_values(text, parse_f64_exact)?,
            nulls,
        )),
        ColumnType::Date32 => Arc::new(Date32Array::new(parse_values(text, parse_date)?, nulls)),
        ColumnType::Timestamp => Arc::new(TimestampMicrosecondArray::new(
            parse_values(text, parse_timestamp)?,
            nulls,
        )),
        ColumnType::Boolean => {
            let mut bits = Vec::with_capacity(text.len());
            for i in 0..text.len() {
                bits.push(if text.is_null(i) {
                    false
                } else {
                    parse_bool(text.value(i)).ok_or(Misfit { row: i })?
                });
            }
            Arc::new(BooleanArray::new(BooleanBuffer::from(bits), nulls))
        }
    })
}

fn parse_values<T: Default + Copy + arrow::datatypes::ArrowNativeType>(
    text: &StringArray,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<ScalarBuffer<T>, Misfit> {
    let mut out = Vec::with_capacity(text.len());
    for i in 0..text.len() {
        out.push(if text.is_null(i) {
            T::default()
        } else {
            parse(text.value(i)).ok_or(Misfit { row: i })?
        });
    }
    Ok(ScalarBuffer::from(out))
}

/// The `Value_number` companion: every numeric value as a float, null elsewhere.
pub fn number_column(text: &StringArray) -> ArrayRef {
    let mut values = Vec::with_capacity(text.len());
    let mut valid = Vec::with_capacity(text.len());
    for i in 0..text.len() {
        let v = if text.is_null(i) {
            None
        } else {
            parse_f64_lenient(text.value(i))
        };
        values.push(v.unwrap_or(0.0));
        valid.push(v.is_some());
    }
    Arc::new(Float64Array::new(
        ScalarBuffer::from(values),
        Some(NullBuffer::from(valid)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::schema::parse::classify;

    #[test]
    fn classification_table() {
        use ColumnType::*;
        let cases: &[(&str, ColumnType)] = &[
            ("true", Boolean),
            ("FALSE", Boolean),
            ("0", Int64),
            ("42", Int64),
            ("-42", Int64),
            ("9223372036854775807", Int64),
            ("-9223372036854775808", Int64),
            // Beyond Int64, 19 digits, and not the float's shortest form: stays text.
            ("9223372036854775808", Utf8),
            ("12345678901234567890000", Utf8),
            ("1.7976931348623157e308", Float64),
            ("007", Utf8),
            ("+5", Utf8),
            ("1.5", Float64),
            ("-0.25", Float64),
            (".5", Float64),
            ("1e-3", Float64),
            ("2.5E+10", Float64),
            ("0.30000000000000004", Float64),
            ("0.1234567890123456789", Utf8),
            ("12345678901234567.5", Utf8),
            ("1.", Utf8),
            ("1,234", Utf8),
            ("NaN", Utf8),
            ("inf", Utf8),
            ("1e99999", Utf8),
            ("2024-01-15", Date32),
            ("2024-02-30", Utf8),
            ("2024-01", Utf8),
            ("FY24Q1", Utf8),
            ("2024-01-15 10:30:00", Timestamp),
            ("2024-01-15T10:30:00.123456", Timestamp),
            ("2024-01-15T10:30:00.1234567", Utf8),
            ("2024-01-15T10:30:00Z", Utf8),
            ("2024-01-15 25:00:00", Utf8),
            (" 42", Utf8),
            ("Promo, Q1 launch", Utf8),
            ("-", Utf8),
        ];
        for (text, expected) in cases {
            assert_eq!(classify(text).best(), *expected, "{text:?}");
            assert_classified_types_convert(text);
        }
    }

    /// What inference accepts, conversion accepts: every type a value is classified as
    /// converts it.
    fn assert_classified_types_convert(text: &str) {
        let fits = classify(text);
        let column = Arc::new(StringArray::from(vec![Some(text)]));
        for ty in [
            ColumnType::Boolean,
            ColumnType::Int64,
            ColumnType::Float64,
            ColumnType::Date32,
            ColumnType::Timestamp,
            ColumnType::Utf8,
        ] {
            if fits.contains(ty) {
                assert!(
                    convert_column(&column, ty).is_ok(),
                    "{text:?} is classified {ty} but does not convert"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn classified_values_convert(
            text in "-?[0-9]{1,20}(\\.[0-9]{0,20})?([eE][-+]?[0-9]{1,4})?|[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,7})?)?|(?i:true|false)"
        ) {
            assert_classified_types_convert(&text);
        }
    }

    #[test]
    fn convert_reports_the_first_misfit() {
        let text = Arc::new(StringArray::from(vec![
            Some("1"),
            None,
            Some("6.5"),
            Some("x"),
        ]));
        assert_eq!(
            convert_column(&text, ColumnType::Int64).unwrap_err(),
            Misfit { row: 2 }
        );
        let f = convert_column(&text, ColumnType::Float64).unwrap_err();
        assert_eq!(f, Misfit { row: 3 });
        let ok = Arc::new(StringArray::from(vec![Some("1"), None, Some("6.5")]));
        let arr = convert_column(&ok, ColumnType::Float64).unwrap();
        let arr = arr.as_any().downcast_ref::<Float64Array>().unwrap();
        assert!(arr.is_null(1));
        assert_eq!(arr.value(2), 6.5);
    }

    #[test]
    fn number_column_is_null_where_not_numeric() {
        let text = StringArray::from(vec![
            Some("1"),
            Some("abc"),
            None,
            Some("2.5"),
            Some("true"),
        ]);
        let n = number_column(&text);
        let n = n.as_any().downcast_ref::<Float64Array>().unwrap();
        let got: Vec<Option<f64>> = n.iter().collect();
        assert_eq!(got, vec![Some(1.0), None, None, Some(2.5), None]);
    }
}
