#include "runtime/trainer/loss_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace ckpt::runtime {
namespace {

std::string escape_xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
    }
  }
  return out;
}

}  // namespace

std::string loss_plot_svg(const LossPoints& train, const LossPoints& eval, const std::string& title) {
  constexpr double kW = 640, kH = 400, kLeft = 70, kRight = 20, kTop = 40, kBottom = 50;
  double x_max = 1, y_min = std::numeric_limits<double>::infinity(), y_max = 0;
  for (const auto* series : {&train, &eval}) {
    for (const auto& [x, y] : *series) {
      if (!std::isfinite(y) || y <= 0) continue;
      x_max = std::max(x_max, x);
      y_min = std::min(y_min, y);
      y_max = std::max(y_max, y);
    }
  }
  if (!std::isfinite(y_min)) y_min = 0.1, y_max = 1;
  if (y_max <= y_min) y_max = y_min * 1.1 + 1e-9;
  const bool log_y = y_max / y_min > 20;
  auto ty = [&](double y) { return log_y ? std::log10(y) : y; };
  const double lo = log_y ? std::floor(ty(y_min)) : 0, hi = log_y ? std::ceil(ty(y_max)) : y_max * 1.05;
  auto px = [&](double x) { return kLeft + x / x_max * (kW - kLeft - kRight); };
  auto py = [&](double y) { return kH - kBottom - (ty(y) - lo) / (hi - lo) * (kH - kTop - kBottom); };
  std::string svg = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" font-family="sans-serif" font-size="12">)"
                                "\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
                                kW, kH);
  svg += fmt::format("<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n", kW / 2, escape_xml(title));
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\n<line x1=\"{0}\" y1=\"{3}\" x2=\"{0}\" y2=\"{1}\" stroke=\"black\"/>\n",
                     kLeft, kH - kBottom, kW - kRight, kTop);
  for (int i = 0; i <= 5; ++i) {  // step ticks
    const double x = x_max * i / 5;
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:.0f}</text>\n", px(x), kH - kBottom + 16, x);
  }
  const int y_ticks = log_y ? static_cast<int>(hi - lo) : 5;
  for (int i = 0; i <= y_ticks; ++i) {
    const double v = log_y ? std::pow(10.0, lo + i) : hi * i / 5;
    const double y = kH - kBottom - static_cast<double>(i) / y_ticks * (kH - kTop - kBottom);
    svg += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:.3g}</text>\n",
                       kLeft, y, kW - kRight, y, kLeft - 6, y + 4, v);
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step</text>\n", (kLeft + kW - kRight) / 2, kH - 12);
  svg += fmt::format("<text x=\"16\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {0})\">loss{1}</text>\n", (kTop + kH - kBottom) / 2,
                     log_y ? " (log scale)" : "");
  auto polyline = [&](const LossPoints& pts, const char* color, const char* label, double legend_y) {
    if (pts.empty()) return;
    std::string points;
    for (const auto& [x, y] : pts) {
      if (std::isfinite(y) && y > 0) points += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
    }
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", color, points);
    for (const auto& [x, y] : pts) {
      if (std::isfinite(y) && y > 0) svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"{}\"/>\n", px(x), py(y), color);
    }
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"2\"/><text x=\"{4}\" y=\"{5}\">{6}</text>\n",
                       kW - kRight - 110, legend_y, kW - kRight - 85, color, kW - kRight - 80, legend_y + 4, label);
  };
  polyline(train, "#1f77b4", "train loss", kTop + 10);
  polyline(eval, "#d62728", "eval loss", kTop + 28);
  svg += "</svg>\n";
  return svg;
}

}  // namespace ckpt::runtime
