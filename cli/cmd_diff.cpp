// mtreplay diff BASE.json CAND.json: the statistical verdict between two result files
// (results/diff.hpp says how a verdict is reached). Exit 0 when nothing regressed,
// 1 on a regression, 2 on input that cannot be compared.
#include <fmt/core.h>

#include <boost/program_options.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "mtreplay/results/diff.hpp"
#include "mtreplay/results/diff_report.hpp"
#include "mtreplay/results/schema_io.hpp"
#include "output_files.hpp"
#include "parse_options.hpp"

namespace po = boost::program_options;
namespace mr = mtreplay::results;

int mtreplay::cli::run_diff(Args args) {
  mr::DiffOptions opts;
  std::string base_path, cand_path, markdown_path;
  po::options_description named("mtreplay diff BASE.json CAND.json [options]");
  named.add_options()("help,h", "this help")(
      "threshold", po::value(&opts.threshold_pct)->default_value(opts.threshold_pct),
      "smallest change in percent that counts as a regression or improvement")(
      "alpha", po::value(&opts.alpha)->default_value(opts.alpha),
      "significance level of the Mann-Whitney U test")(
      "normalize-to", po::value(&opts.normalize_to),
      "judge every other allocator as a ratio to this one's run of the same round (cancels "
      "machine drift between the two files; the reference itself is not judged)")(
      "min-latency-samples",
      po::value(&opts.min_latency_samples)->default_value(opts.min_latency_samples),
      "judge a latency kind only when every run sampled it this often")(
      "markdown", po::value(&markdown_path),
      "also write the report as Markdown to this file (-: standard output, the text "
      "report then on standard error)");
  po::options_description hidden;
  hidden.add_options()("base", po::value(&base_path))("cand", po::value(&cand_path));
  po::options_description all;
  all.add(named).add(hidden);
  po::positional_options_description positional;
  positional.add("base", 1).add("cand", 1);

  const auto parsed = parse_options("diff", args, all, positional);
  if (!parsed) return kExitBadInput;
  const po::variables_map& vm = *parsed;
  if (vm.count("help")) {
    fmt::print("{}\n", (std::ostringstream() << named).str());
    return kExitOk;
  }
  if (base_path.empty() || cand_path.empty()) {
    fmt::print(stderr, "mtreplay diff: needs two result files: BASE.json CAND.json\n");
    return kExitBadInput;
  }
  if (!(opts.threshold_pct >= 0) || !(opts.alpha > 0 && opts.alpha < 1)) {
    fmt::print(stderr, "mtreplay diff: --threshold must be >= 0 and --alpha in (0, 1)\n");
    return kExitBadInput;
  }

  try {
    mr::ResultFile base = mr::read_result_file(base_path);
    mr::ResultFile cand = mr::read_result_file(cand_path);
    mr::DiffReport report = mr::diff_results(base, cand, opts, base_path, cand_path);
    fmt::print(mtreplay::cli::is_stdout(markdown_path) ? stderr : stdout, "{}",
               mr::diff_text(report, opts));
    if (!markdown_path.empty() &&
        !mtreplay::cli::write_text(markdown_path,
                                   mr::diff_markdown(report, opts, base_path, cand_path))) {
      fmt::print(stderr, "mtreplay diff: {}: cannot write\n", markdown_path);
      return kExitBadInput;
    }
    return report.regressed() ? kExitFailed : kExitOk;
  } catch (const mr::SchemaError& e) {
    fmt::print(stderr, "mtreplay diff: {}\n", e.what());
    return kExitBadInput;
  } catch (const mr::DiffInputError& e) {
    fmt::print(stderr, "mtreplay diff: {}\n", e.what());
    return kExitBadInput;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mtreplay diff: internal error: {}\n", e.what());
    return kExitInternal;
  }
}
