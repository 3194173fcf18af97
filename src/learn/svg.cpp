// SVG writer and heatmap grid (see svg.h).
#include "learn/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "check.h"

namespace gpt::svg {

namespace {

// Length in bytes of the valid UTF-8 sequence at s[i], or 0 when invalid (overlong,
// surrogate, beyond U+10FFFF, truncated). *cp receives the code point.
size_t utf8_seq(const std::string& s, size_t i, unsigned* cp) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n;
  unsigned v, min;
  if (c < 0x80) return *cp = c, 1;
  if ((c & 0xE0) == 0xC0) n = 2, v = c & 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0) n = 3, v = c & 0x0F, min = 0x800;
  else if ((c & 0xF8) == 0xF0) n = 4, v = c & 0x07, min = 0x10000;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; k++) {
    const unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    v = (v << 6) | (d & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

std::string hex_escape(unsigned byte) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02X", byte & 0xFF);
  return buf;
}

// Visible text: what escape() shows, before XML entities.
std::string visible(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    unsigned cp = 0;
    const size_t n = utf8_seq(s, i, &cp);
    if (n == 0) {
      out += hex_escape(static_cast<unsigned char>(s[i]));
      i++;
      continue;
    }
    if (cp == '\n') out += "\\n";
    else if (cp == '\t') out += "\\t";
    else if (cp == '\r') out += "\\r";
    else if (cp < 0x20 || cp == 0x7F) out += hex_escape(cp);
    else if ((cp >= 0x80 && cp <= 0x9F) || cp == 0xFFFE || cp == 0xFFFF) {  // C1 controls, non-characters
      char buf[12];
      std::snprintf(buf, sizeof buf, "\\u%04X", cp);
      out += buf;
    } else {
      out.append(s, i, n);
    }
    i += n;
  }
  return out;
}

std::string entities(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

size_t codepoints(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  std::string s = buf;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

std::string value_text(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", x);
  return buf;
}

double text_width(const std::string& raw, double size) { return double(codepoints(visible(raw))) * size * 0.62; }

std::string caption(const Heatmap& m) {
  if (m.row_axis.empty() && m.col_axis.empty()) return "";
  return "rows: " + m.row_axis + ", columns: " + m.col_axis;
}

}  // namespace

std::string escape(const std::string& text) { return entities(visible(text)); }

std::string token_label(const std::string& token) {
  std::string out;
  for (char c : token) {
    if (c == ' ') out += "\xE2\x90\xA3";  // U+2423 OPEN BOX
    else out += c;
  }
  return out;
}

std::string color(double t, Colormap cmap) {
  struct Rgb {
    double r, g, b;
  };
  static const Rgb seq[] = {{255, 255, 255}, {198, 219, 239}, {107, 174, 214}, {33, 113, 181}, {8, 48, 107}};
  static const Rgb div[] = {{33, 102, 172}, {146, 197, 222}, {247, 247, 247}, {244, 165, 130}, {178, 24, 43}};
  const Rgb* stops = cmap == Colormap::sequential ? seq : div;
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 4.0;
  const int k = std::min(3, int(t));
  const double f = t - k;
  auto mix = [&](double a, double b) { return int(std::lround(a + (b - a) * f)); };
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", mix(stops[k].r, stops[k + 1].r), mix(stops[k].g, stops[k + 1].g),
                mix(stops[k].b, stops[k + 1].b));
  return buf;
}

void Document::grow(double x, double y) {
  w_ = std::max(w_, std::ceil(x));
  h_ = std::max(h_, std::ceil(y));
}

void Document::rect(double x, double y, double w, double h, const std::string& fill, const std::string& cls,
                    const std::string& tooltip) {
  body_ += "<rect";
  if (!cls.empty()) body_ += " class=\"" + entities(cls) + "\"";
  body_ += " x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h) + "\" fill=\"" +
           entities(fill) + "\"";
  if (tooltip.empty()) body_ += "/>\n";
  else body_ += "><title>" + escape(tooltip) + "</title></rect>\n";
  grow(x + w, y + h);
}

void Document::text(double x, double y, const std::string& text, double size, const std::string& anchor,
                    double rotate, bool bold) {
  body_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(size) + "\"";
  if (anchor != "start") body_ += " text-anchor=\"" + entities(anchor) + "\"";
  if (bold) body_ += " font-weight=\"bold\"";
  if (rotate != 0) body_ += " transform=\"rotate(" + num(rotate) + " " + num(x) + " " + num(y) + ")\"";
  body_ += ">" + escape(text) + "</text>\n";
  const double w = text_width(text, size);
  if (rotate == 0) grow(anchor == "start" ? x + w : anchor == "middle" ? x + w / 2 : x, y + size * 0.3);
  else grow(x + size, y);
}

void Document::colorbar(double x, double y, double w, double h, Colormap cmap, double vmin, double vmax) {
  const std::string id = "colorbar" + std::to_string(gradients_++);
  defs_ += "<linearGradient id=\"" + id + "\" x1=\"0\" y1=\"0\" x2=\"1\" y2=\"0\">";
  for (int k = 0; k <= 8; k++)
    defs_ += "<stop offset=\"" + num(k / 8.0) + "\" stop-color=\"" + color(k / 8.0, cmap) + "\"/>";
  defs_ += "</linearGradient>\n";
  body_ += "<rect class=\"colorbar\" x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" +
           num(h) + "\" fill=\"url(#" + id + ")\" stroke=\"#888888\" stroke-width=\"0.5\"/>\n";
  grow(x + w, y + h);
  text(x, y + h + 12, value_text(vmin), 10, "start");
  text(x + w, y + h + 12, value_text(vmax), 10, "end");
}

std::string Document::str() const {
  const double W = w_ + 10, H = h_ + 10;
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(W) + "\" height=\"" + num(H) + "\" viewBox=\"0 0 " +
       num(W) + " " + num(H) + "\" font-family=\"DejaVu Sans Mono, monospace\">\n";
  if (!defs_.empty()) s += "<defs>\n" + defs_ + "</defs>\n";
  s += "<rect class=\"background\" x=\"0\" y=\"0\" width=\"" + num(W) + "\" height=\"" + num(H) +
       "\" fill=\"#ffffff\"/>\n";
  s += body_;
  s += "</svg>\n";
  return s;
}

std::string heatmap_grid(const std::vector<Heatmap>& maps, int per_row, const std::string& title, double vmin,
                         double vmax, Colormap cmap) {
  Document doc;
  const double pad = 16, label_size = 10;
  const double span = vmax > vmin ? vmax - vmin : 1.0;
  per_row = std::max(1, per_row);
  // One panel size for all: room for the widest labels and the largest grid.
  double left = 0, top = 0, gw = 0, gh = 0;
  for (const Heatmap& m : maps) {
    GPT_CHECK(m.rows >= 0 && m.cols >= 0 && m.values.size() == size_t(m.rows) * size_t(m.cols), "heatmap of ",
              m.rows, " x ", m.cols, " with ", m.values.size(), " values");
    for (const auto& l : m.row_labels) left = std::max(left, text_width(l, label_size));
    for (const auto& l : m.col_labels) top = std::max(top, text_width(l, label_size));
    gw = std::max(gw, m.cols * m.cell);
    gh = std::max(gh, m.rows * m.cell);
  }
  left += 8;
  top += 8;
  const double title_h = 34;  // panel title and axis caption
  double panel_w = left + gw;
  for (const Heatmap& m : maps)
    panel_w = std::max({panel_w, text_width(m.title, 12), text_width(caption(m), 10)});
  panel_w += pad;
  const double panel_h = title_h + top + gh + pad;
  double y0 = 10;
  doc.text(10, y0 + 14, title, 14, "start", 0, true);
  y0 += 28;
  for (size_t p = 0; p < maps.size(); p++) {
    const Heatmap& m = maps[p];
    const double px = 10 + double(p % size_t(per_row)) * panel_w, py = y0 + double(p / size_t(per_row)) * panel_h;
    doc.text(px, py + 12, m.title, 12, "start", 0, true);
    if (!caption(m).empty()) doc.text(px, py + 26, caption(m), 10);
    const double gx = px + left, gy = py + title_h + top;
    const int every = std::max(1, m.label_every);
    for (int c = 0; c < int(m.col_labels.size()) && c < m.cols; c++)
      if (c % every == 0)
        doc.text(gx + (c + 0.5) * m.cell + label_size * 0.35, gy - 4, m.col_labels[size_t(c)], label_size, "start",
                 -90);
    for (int r = 0; r < int(m.row_labels.size()) && r < m.rows; r++)
      if (r % every == 0)
        doc.text(gx - 4, gy + (r + 0.5) * m.cell + label_size * 0.35, m.row_labels[size_t(r)], label_size, "end");
    for (int r = 0; r < m.rows; r++)
      for (int c = 0; c < m.cols; c++) {
        const double v = m.values[size_t(r) * m.cols + c];
        std::string tip;
        if (m.tooltips) {
          const std::string rl = r < int(m.row_labels.size()) ? m.row_labels[size_t(r)] : std::to_string(r);
          const std::string cl = c < int(m.col_labels.size()) ? m.col_labels[size_t(c)] : std::to_string(c);
          tip = m.row_axis + " " + rl + " / " + m.col_axis + " " + cl + ": " + value_text(v);
        }
        doc.rect(gx + c * m.cell, gy + r * m.cell, m.cell, m.cell, color((v - vmin) / span, cmap), "cell", tip);
      }
  }
  const double rows_of_panels = std::ceil(double(maps.size()) / per_row);
  doc.colorbar(10 + left, y0 + rows_of_panels * panel_h, std::max(120.0, std::min(240.0, gw)), 10, cmap, vmin, vmax);
  return doc.str();
}

}  // namespace gpt::svg
