// `ampsync run job.toml`: runs the load a job file describes (job_file.h; format in
// docs/cli.md), through the same RunLoadJob() as `ampsync load`, so a job file and the
// equivalent flags behave identically (output, exit codes, Ctrl+C, resume).
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "exit_codes.h"
#include "job_file.h"
#include "load_job.h"

namespace amp::cli {

CommandRunner RegisterRunCommand(CLI::App& app) {
  struct RunArgs {
    std::string path;
    bool dry_run = false;
    std::string progress;
    bool quiet = false;
    bool reset = false;
  };
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Run the load described by a TOML job file");
  cmd->add_option("job", args->path, "The job file (format: docs/cli.md, \"Job files\")")->required();
  cmd->add_flag("--dry-run", args->dry_run,
                "Print the parallel plan with every rewritten query; write nothing");
  cmd->add_option("--progress", args->progress,
                  "Live progress line on stderr: auto (on a terminal, default), always, never");
  cmd->add_flag("--quiet", args->quiet, "Print only the summary and errors");
  // A flag, never a job-file key: a reset is a one-off decision, not part of every run.
  cmd->add_flag("--reset", args->reset,
                "Start over: delete the table's rows and forget this job's progress, then load");
  return [args] {
    auto file = LoadJobFile(args->path);
    if (!file.ok()) return ReportError(file.status());
    LoadJob& job = file->job;
    if (args->dry_run) job.dry_run = true;
    if (args->quiet) job.quiet = true;
    if (args->reset) job.reset = true;
    if (!args->progress.empty()) {
      auto mode = ParseProgressMode(args->progress);
      if (!mode.ok()) return ReportError(UsageError(Status::Invalid("--progress: ", mode.status().message())));
      job.progress = *mode;
    }
    if (job.dry_run && !job.parallel) {
      return ReportError(UsageError(Status::Invalid(
          "--dry-run only applies to parallel jobs: add a [job.parallel] table to ", args->path)));
    }
    return RunLoadJob(job, file->Namer());
  };
}

}  // namespace amp::cli
