// Public header of ckpt::runtime: load a model, tokenize, run the forward pass (on the CPU or CUDA),
// sample, generate, and compare two models' logits.
#pragma once

#include "runtime/backend.h"
#include "runtime/check.h"
#include "runtime/cuda/cuda_matvec.h"
#include "runtime/forward.h"
#include "runtime/generate.h"
#include "runtime/jinja.h"
#include "runtime/lora.h"
#include "runtime/matmul.h"
#include "runtime/model.h"
#include "runtime/sampler.h"
#include "runtime/tokenizer.h"
#include "runtime/training_examples.h"
