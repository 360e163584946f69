//! Small PNG charts (line and grouped bars) drawn with embedded-graphics' primitives and
//! bitmap font, so no system fonts or graphics libraries are needed.

use affinity_core::{files, WriteError};
use std::path::Path;

use embedded_graphics::mono_font::{ascii::FONT_6X10, MonoTextStyle};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Line, PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Alignment, Text};

/// An RGB framebuffer.
struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: u32, height: u32) -> Self {
        Canvas {
            width,
            height,
            pixels: vec![255; (width * height * 3) as usize],
        }
    }

    fn save(&self, path: &Path) -> Result<(), WriteError> {
        let mut bytes = Vec::new();
        let encoded = (|| {
            let mut encoder = png::Encoder::new(&mut bytes, self.width, self.height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(&self.pixels)
        })();
        encoded.map_err(|e| WriteError::new(path, std::io::Error::other(e)))?;
        files::write_bytes(path, &bytes)
    }
}

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = std::convert::Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(
        &mut self,
        pixels: I,
    ) -> Result<(), Self::Error> {
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.y >= 0 && (p.x as u32) < self.width && (p.y as u32) < self.height {
                let i = ((p.y as u32 * self.width + p.x as u32) * 3) as usize;
                self.pixels[i..i + 3].copy_from_slice(&[c.r(), c.g(), c.b()]);
            }
        }
        Ok(())
    }
}

const PALETTE: [Rgb888; 8] = [
    Rgb888::new(31, 119, 180),
    Rgb888::new(255, 127, 14),
    Rgb888::new(44, 160, 44),
    Rgb888::new(214, 39, 40),
    Rgb888::new(148, 103, 189),
    Rgb888::new(140, 86, 75),
    Rgb888::new(227, 119, 194),
    Rgb888::new(127, 127, 127),
];

fn text(c: &mut Canvas, s: &str, x: i32, y: i32, align: Alignment) {
    let style = MonoTextStyle::new(&FONT_6X10, Rgb888::BLACK);
    let _ = Text::with_alignment(s, Point::new(x, y), style, align).draw(c);
}

fn line(c: &mut Canvas, a: (i32, i32), b: (i32, i32), color: Rgb888, width: u32) {
    let _ = Line::new(Point::new(a.0, a.1), Point::new(b.0, b.1))
        .into_styled(PrimitiveStyle::with_stroke(color, width))
        .draw(c);
}

fn nice_max(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

/// Frame with title, y ticks from 0 to `top`; returns the plot rectangle (x0, y0, x1, y1).
fn frame(c: &mut Canvas, title: &str, top: f64, ylabel: &str) -> (i32, i32, i32, i32) {
    let (x0, y0, x1, y1) = (60, 30, c.width as i32 - 20, c.height as i32 - 70);
    text(c, title, c.width as i32 / 2, 16, Alignment::Center);
    text(c, ylabel, 4, 24, Alignment::Left);
    for t in 0..=4 {
        let v = top * t as f64 / 4.0;
        let y = y1 - (y1 - y0) * t / 4;
        line(c, (x0, y), (x1, y), Rgb888::new(225, 225, 225), 1);
        text(c, &format!("{v:.3}"), x0 - 4, y + 3, Alignment::Right);
    }
    line(c, (x0, y0), (x0, y1), Rgb888::BLACK, 1);
    line(c, (x0, y1), (x1, y1), Rgb888::BLACK, 1);
    (x0, y0, x1, y1)
}

/// A line per series over steps (e.g. training loss per optimizer step).
pub fn line_chart(
    path: &Path,
    title: &str,
    ylabel: &str,
    series: &[(String, Vec<f32>)],
) -> Result<(), WriteError> {
    let mut c = Canvas::new(800, 420);
    let top = nice_max(
        series
            .iter()
            .flat_map(|(_, v)| v.iter())
            .filter(|x| x.is_finite())
            .fold(0f32, |a, &b| a.max(b)) as f64,
    );
    let (x0, y0, x1, y1) = frame(&mut c, title, top, ylabel);
    let longest = series
        .iter()
        .map(|(_, v)| v.len())
        .max()
        .unwrap_or(1)
        .max(2);
    text(
        &mut c,
        "optimizer step",
        (x0 + x1) / 2,
        y1 + 28,
        Alignment::Center,
    );
    text(&mut c, "0", x0, y1 + 14, Alignment::Center);
    text(
        &mut c,
        &(longest - 1).to_string(),
        x1,
        y1 + 14,
        Alignment::Center,
    );
    for (s, (name, values)) in series.iter().enumerate() {
        let color = PALETTE[s % PALETTE.len()];
        let point = |i: usize, v: f32| {
            let x = x0 + ((x1 - x0) as f64 * i as f64 / (longest - 1) as f64) as i32;
            let y = y1 - ((y1 - y0) as f64 * (v as f64 / top).clamp(0.0, 1.0)) as i32;
            (x, y)
        };
        for (i, w) in values.windows(2).enumerate() {
            if w[0].is_finite() && w[1].is_finite() {
                line(&mut c, point(i, w[0]), point(i + 1, w[1]), color, 2);
            }
        }
        let ly = y1 + 44 + 12 * s as i32;
        line(&mut c, (x0, ly - 3), (x0 + 20, ly - 3), color, 3);
        text(&mut c, name, x0 + 26, ly, Alignment::Left);
    }
    c.save(path)
}

/// Grouped bars: one group per category (x axis), one bar per series within it.
pub fn bar_chart(
    path: &Path,
    title: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<(), WriteError> {
    let mut c = Canvas::new(900, 460);
    let top = nice_max(
        series
            .iter()
            .flat_map(|(_, v)| v.iter())
            .filter(|x| x.is_finite())
            .fold(0f64, |a, &b| a.max(b)),
    );
    let (x0, y0, x1, y1) = frame(&mut c, title, top, "");
    let groups = categories.len().max(1) as i32;
    let group_w = (x1 - x0) / groups;
    let bar_w = ((group_w - 16) / series.len().max(1) as i32).max(2);
    for (g, cat) in categories.iter().enumerate() {
        let gx = x0 + group_w * g as i32 + 8;
        for (s, (_, values)) in series.iter().enumerate() {
            let v = values.get(g).copied().unwrap_or(f64::NAN);
            if !v.is_finite() {
                continue;
            }
            let h = ((y1 - y0) as f64 * (v / top).clamp(0.0, 1.0)) as i32;
            let _ = Rectangle::new(
                Point::new(gx + bar_w * s as i32, y1 - h),
                Size::new(bar_w as u32 - 1, h.max(1) as u32),
            )
            .into_styled(PrimitiveStyle::with_fill(PALETTE[s % PALETTE.len()]))
            .draw(&mut c);
        }
        text(
            &mut c,
            cat,
            gx + group_w / 2 - 8,
            y1 + 14,
            Alignment::Center,
        );
    }
    for (s, (name, _)) in series.iter().enumerate() {
        let (lx, ly) = (x0 + 220 * (s as i32 % 3), y1 + 34 + 14 * (s as i32 / 3));
        let _ = Rectangle::new(Point::new(lx, ly - 8), Size::new(10, 10))
            .into_styled(PrimitiveStyle::with_fill(PALETTE[s % PALETTE.len()]))
            .draw(&mut c);
        text(&mut c, name, lx + 14, ly, Alignment::Left);
    }
    c.save(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_valid_pngs_with_ink() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.png");
        line_chart(
            &p,
            "loss",
            "loss",
            &[("a".into(), vec![3.0, 2.0, 1.5, f32::NAN, 1.0])],
        )
        .unwrap();
        let q = dir.path().join("b.png");
        bar_chart(
            &q,
            "metrics",
            &["NDCG".into(), "Recall".into()],
            &[("x".into(), vec![0.1, 0.3]), ("y".into(), vec![0.2, 0.25])],
        )
        .unwrap();
        for path in [p, q] {
            let decoder =
                png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
            let mut reader = decoder.read_info().unwrap();
            let mut buf = vec![0; reader.output_buffer_size().unwrap()];
            let info = reader.next_frame(&mut buf).unwrap();
            assert!(info.width >= 800);
            // Some pixels are coloured (neither white nor grey nor black).
            let coloured = buf
                .chunks(3)
                .filter(|p| !(p[0] == p[1] && p[1] == p[2]))
                .count();
            assert!(coloured > 100, "{coloured}");
        }
        assert_eq!(nice_max(0.37), 0.5);
        assert_eq!(nice_max(0.0), 1.0);
    }
}
