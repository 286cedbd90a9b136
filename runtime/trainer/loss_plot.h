// The loss curve as a standalone SVG: train and eval loss against the optimizer step, with labelled
// axes (a logarithmic loss axis when the loss spans more than a factor of 20).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ckpt::runtime {

using LossPoints = std::vector<std::pair<double, double>>;  // (step, loss)

std::string loss_plot_svg(const LossPoints& train, const LossPoints& eval, const std::string& title);

}  // namespace ckpt::runtime
