//! What a chart is drawn with: rectangles, lines and labels, for SVG and PNG alike.

/// An RGB colour.
pub(super) type Rgb = [u8; 3];

/// Where a label's anchor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Anchor {
    Start,
    Middle,
    End,
}

/// One element of the chart. Coordinates in pixels from the top left.
#[derive(Clone, Debug)]
pub(super) enum Shape {
    Rect {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: Option<Rgb>,
        stroke: Option<Rgb>,
    },
    Line {
        x1: f64,
        y1: f64,
        x2: f64,
        y2: f64,
        color: Rgb,
    },
    /// Text whose baseline is at `y`.
    Text {
        x: f64,
        y: f64,
        text: String,
        size: f64,
        anchor: Anchor,
        color: Rgb,
    },
}
