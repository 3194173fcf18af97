// A small SVG writer and the one heatmap both `gpt posenc --out` and
// `gpt attention --out` draw: one <rect class="cell"> per value, labels escaped so
// that any token text (quotes, <, &, newlines, control bytes, broken UTF-8) stays
// well-formed XML. Not here: axes with ticks, fonts, anything interactive beyond
// <title> tooltips.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace gpt::svg {

// Text for XML content or a quoted attribute: & < > " ' become entities; characters
// XML 1.0 forbids or that would be invisible become visible escapes: newline "\n",
// tab "\t", carriage return "\r", other control characters and invalid UTF-8 bytes
// "\xNN". Valid UTF-8 otherwise passes through.
std::string escape(const std::string& text);
// A token as a label (raw text; the Document escapes it when drawn): every space
// becomes U+2423 (open box), which SVG would otherwise collapse or hide.
std::string token_label(const std::string& token);

enum class Colormap {
  sequential,  // white -> dark blue, for weights in [vmin, vmax]
  diverging,   // blue -> white -> red, for signed values centred on 0
};
// "#rrggbb" for t in [0, 1] (clamped).
std::string color(double t, Colormap cmap);

class Document {
 public:
  // Raw SVG elements (already escaped); the document grows to fit what is drawn.
  void rect(double x, double y, double w, double h, const std::string& fill, const std::string& cls = "",
            const std::string& tooltip = "");
  // anchor: start | middle | end; rotate: degrees about (x, y). `text` is escaped here.
  void text(double x, double y, const std::string& text, double size = 11, const std::string& anchor = "start",
            double rotate = 0, bool bold = false);
  // Horizontal colour bar from vmin to vmax with its two end labels.
  void colorbar(double x, double y, double w, double h, Colormap cmap, double vmin, double vmax);
  std::string str() const;  // the complete document
  double width() const { return w_; }
  double height() const { return h_; }

 private:
  void grow(double x, double y);
  std::string body_, defs_;
  double w_ = 0, h_ = 0;
  int gradients_ = 0;
};

struct Heatmap {
  std::vector<double> values;  // rows x cols, row-major
  int rows = 0, cols = 0;
  std::vector<std::string> row_labels, col_labels;  // raw text (escaped when drawn); may be empty
  int label_every = 1;                              // label every k-th row / column
  std::string title, row_axis, col_axis;            // raw text
  double cell = 14;                                 // cell size in px
  bool tooltips = true;                             // a <title> per cell
};

// Most cells one picture may hold (about 80 bytes each): callers check before drawing.
constexpr size_t kMaxCells = size_t(1) << 18;

// Draws one or more heatmaps in a grid (`per_row` panels across) under a title,
// sharing the colour scale [vmin, vmax] shown by a colour bar. Returns the SVG text.
std::string heatmap_grid(const std::vector<Heatmap>& maps, int per_row, const std::string& title, double vmin,
                         double vmax, Colormap cmap);

}  // namespace gpt::svg
