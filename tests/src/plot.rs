//! SVG plots of a report (membership over time, infection curves of failures).
