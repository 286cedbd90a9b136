// One function per subcommand; each lives in its own file and registers flags plus a callback.
#pragma once

namespace CLI {
class App;
}

namespace ckpt::cli {

void add_inspect_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_merge_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_finetune_command(CLI::App& app);
void add_verify_command(CLI::App& app);
void add_sign_command(CLI::App& app);
void add_diff_command(CLI::App& app);
void add_hash_command(CLI::App& app);
void add_adapter_command(CLI::App& app);

// -q/--quiet: informational lines (wrote ..., summaries) are not printed; results still are.
void set_quiet_output(bool quiet);
bool quiet_output();
void add_completion_command(CLI::App& app);  // and `man`

}  // namespace ckpt::cli
