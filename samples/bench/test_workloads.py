"""Tests of the workload report's pure parts (samples/bench/workloads): reading a program's output,
the speedup and overhead maths, the verdicts, the tables and the plot. No program runs here and
nothing is timed.

  python3 test_workloads.py [PATH/TO/workloads]     (meson: the test bench_workloads_harness)
"""

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

SCRIPT = Path(sys.argv.pop(1) if len(sys.argv) > 1 else Path(__file__).with_name("workloads"))
_loader = importlib.machinery.SourceFileLoader("workloads", str(SCRIPT))
_spec = importlib.util.spec_from_loader("workloads", _loader)
workloads = importlib.util.module_from_spec(_spec)
_loader.exec_module(workloads)

GEMM = workloads.WORKLOADS_BY_NAME["gemm"]  # 8-node target 6.5x
KV = workloads.WORKLOADS_BY_NAME["kvstore"]  # 8-node target 4x


def ok(throughput, checksum="c1", wall=1.0):
    return workloads.Run("ok", wall, checksum, throughput, "ops/s")


def ports(**by_nodes):
    """ports(n1=[runs], n8=[runs]) -> {1: [...], 8: [...]}."""
    return {int(key[1:]): runs for key, runs in by_nodes.items()}


class ParseOutput(unittest.TestCase):
    def test_reads_checksum_throughput_and_unit(self):
        text = ("kvstore: 20000 keys\nchecksum 18f47eb37f1bbee4\n"
                "throughput 6345100 ops/s (mixed phase 0.032 s)\n")
        result = workloads.parse_output(text)
        self.assertEqual(result.checksum, "18f47eb37f1bbee4")
        self.assertEqual(result.throughput, 6345100.0)
        self.assertEqual(result.unit, "ops/s")

    def test_negative_checksum_and_decimal_throughput(self):
        result = workloads.parse_output("checksum -13548.073806886199\nthroughput 10.4154 GFLOP/s\n")
        self.assertEqual(result.checksum, "-13548.073806886199")
        self.assertAlmostEqual(result.throughput, 10.4154)
        self.assertEqual(result.unit, "GFLOP/s")

    def test_lines_that_only_mention_the_words_are_ignored(self):
        text = "the checksum is below\nchecksum abc\nthroughput 5 req/s\nthroughput: fine\n"
        self.assertEqual(workloads.parse_output(text).checksum, "abc")

    def test_missing_or_repeated_lines_are_errors(self):
        for text, words in (("throughput 5 ops/s\n", "0 'checksum"),
                            ("checksum a\n", "0 'throughput"),
                            ("checksum a\nchecksum b\nthroughput 5 ops/s\n", "2 'checksum"),
                            ("checksum a\nthroughput 5 ops/s\nthroughput 6 ops/s\n", "2 'throughput")):
            with self.subTest(text=text):
                with self.assertRaisesRegex(workloads.OutputError, words):
                    workloads.parse_output(text)

    def test_a_throughput_that_is_not_a_positive_number_is_an_error(self):
        with self.assertRaisesRegex(workloads.OutputError, "no number"):
            workloads.parse_output("checksum a\nthroughput fast ops/s\n")
        with self.assertRaisesRegex(workloads.OutputError, "not positive"):
            workloads.parse_output("checksum a\nthroughput 0 ops/s\n")


class Summarise(unittest.TestCase):
    def test_speedup_is_the_ratio_of_median_throughputs(self):
        original = [ok(100), ok(90), ok(300)]  # median 100
        summary = workloads.summarise(GEMM, original, ports(
            n1=[ok(99), ok(98), ok(500)], n2=[ok(190)], n4=[ok(400)], n8=[ok(700)]))
        self.assertAlmostEqual(summary["speedup"][1], 0.99)
        self.assertAlmostEqual(summary["speedup"][2], 1.9)
        self.assertAlmostEqual(summary["speedup"][8], 7.0)
        self.assertAlmostEqual(summary["overhead_percent"], 1.0)
        self.assertTrue(summary["met"])
        self.assertEqual(summary["verdict"], "met")

    def test_overhead_above_two_percent_is_not_met(self):
        summary = workloads.summarise(GEMM, [ok(100)], ports(n1=[ok(97)], n2=[ok(200)], n4=[ok(400)],
                                                             n8=[ok(700)]))
        self.assertAlmostEqual(summary["overhead_percent"], 3.0)
        self.assertFalse(summary["met"])
        self.assertIn("1-node overhead 3.0% > 2%", summary["verdict"])

    def test_eight_nodes_below_the_target_is_not_met(self):
        summary = workloads.summarise(KV, [ok(100)], ports(n1=[ok(100)], n2=[ok(200)], n4=[ok(300)],
                                                           n8=[ok(350)]))
        self.assertFalse(summary["met"])
        self.assertIn("8 nodes 3.50x < 4x", summary["verdict"])

    def test_a_checksum_mismatch_is_a_failure_not_a_figure(self):
        summary = workloads.summarise(KV, [ok(100, "good")], ports(
            n1=[ok(100, "good")], n2=[ok(200, "good")], n4=[ok(400, "bad")], n8=[ok(800, "good")]))
        self.assertNotIn(4, summary["speedup"])
        self.assertIn("checksum mismatch (bad, original good)", summary["port_status"][4])
        self.assertFalse(summary["met"])
        self.assertIn("4 nodes: checksum mismatch", summary["verdict"])

    def test_a_mismatch_in_any_repeat_counts(self):
        summary = workloads.summarise(KV, [ok(100, "a"), ok(100, "a")],
                                      ports(n1=[ok(100, "a"), ok(100, "b")]))
        self.assertIn("checksum mismatch", summary["port_status"][1])

    def test_a_failed_run_and_a_configuration_not_run(self):
        timeout = workloads.Run("timeout (> 60 s)", 60.0)
        summary = workloads.summarise(GEMM, [ok(100)], ports(n1=[ok(100)], n2=[timeout]))
        self.assertEqual(summary["port_status"][2], "timeout (> 60 s)")
        self.assertEqual(summary["port_status"][8], "not run")
        self.assertFalse(summary["met"])

    def test_an_original_that_failed_gives_no_speedups(self):
        failed = workloads.Run("failed (exit status 1)", 0.5)
        summary = workloads.summarise(GEMM, [failed], ports(n1=[ok(100)], n8=[ok(800)]))
        self.assertEqual(summary["speedup"], {})
        self.assertEqual(summary["port_status"][1], "no original")
        self.assertIn("original: failed (exit status 1)", summary["verdict"])

    def test_an_original_whose_checksum_varies_is_reported(self):
        summary = workloads.summarise(GEMM, [ok(100, "a"), ok(100, "b")], ports(n1=[ok(100, "a")]))
        self.assertIn("original not deterministic", summary["original_status"])
        self.assertEqual(summary["speedup"], {})

    def test_ports_on_two_or_more_nodes_are_held_to_the_original_at_their_own_size(self):
        # kvstore: 1 node runs bench_args ("long"), 2+ nodes multi_node_args ("short").
        summary = workloads.summarise(KV, [ok(100, "long")], ports(
            n1=[ok(98, "long")], n2=[ok(50, "short")], n4=[ok(80, "long")], n8=[ok(120, "short")]),
            multi_node_original_runs=[ok(90, "short")])
        self.assertAlmostEqual(summary["speedup"][2], 0.5)  # against the original at bench_args
        self.assertAlmostEqual(summary["speedup"][8], 1.2)
        self.assertNotIn(4, summary["speedup"])
        self.assertIn("checksum mismatch (long, original short)", summary["port_status"][4])
        self.assertEqual(summary["multi_node_args"], list(KV.multi_node_args))
        self.assertEqual(summary["multi_node_original_throughput"], 90)

    def test_a_failed_original_at_the_multi_node_size_leaves_those_ports_without_figures(self):
        failed = workloads.Run("failed (exit status 1)", 0.5)
        summary = workloads.summarise(KV, [ok(100, "long")], ports(n1=[ok(100, "long")], n2=[ok(50, "short")]),
                                      multi_node_original_runs=[failed])
        self.assertEqual(set(summary["speedup"]), {1})
        self.assertEqual(summary["port_status"][2], "no original")
        self.assertIn("original at the 2+ node size: failed (exit status 1)", summary["verdict"])

    def test_kvstore_runs_its_multi_node_size_on_two_or_more_nodes_only(self):
        self.assertEqual(KV.args("bench"), KV.bench_args)
        self.assertEqual(KV.args("bench", nodes=1), KV.bench_args)
        self.assertEqual(KV.args("bench", nodes=2), KV.multi_node_args)
        self.assertEqual(KV.args("small", nodes=8), ())
        self.assertEqual(GEMM.args("bench", nodes=8), GEMM.bench_args)

    def test_message_bound_ports_are_bound_spread_on_two_or_more_nodes_only(self):
        socialnet = workloads.WORKLOADS_BY_NAME["socialnet"]
        dataframe = workloads.WORKLOADS_BY_NAME["dataframe"]
        for port in (socialnet, KV):
            self.assertEqual(port.drun_args("bench", 1), ())
            self.assertEqual(port.drun_args("bench", 4), ("--cpu-bind", "spread"))
            self.assertEqual(port.drun_args("small", 8), ())
        self.assertEqual(dataframe.drun_args("bench", 1), ("--heap", "4GiB"))
        self.assertEqual(dataframe.drun_args("bench", 8), ("--heap", "4GiB"))
        self.assertEqual(GEMM.drun_args("bench", 8), ())


class OneNodeCpus(unittest.TestCase):
    def test_a_quota_below_one_core_gets_one_cpu_and_more_get_as_many_as_they_need(self):
        allowed = sorted(os.sched_getaffinity(0))
        self.assertEqual(workloads.one_node_cpus(0.25), allowed[:1])
        self.assertEqual(workloads.one_node_cpus(1.0), allowed[:1])
        self.assertEqual(workloads.one_node_cpus(1.5), allowed[:2])

    def test_the_child_is_bound_to_those_cpus(self):
        cpus = workloads.one_node_cpus(0.25)
        setup = workloads.child_setup(cpus=cpus)
        shown = subprocess.run(["python3", "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                               capture_output=True, text=True, preexec_fn=setup, check=True).stdout
        self.assertEqual(shown.strip(), str(cpus))
        self.assertIsNone(workloads.child_setup())


class Tables(unittest.TestCase):
    def rows(self):
        met = workloads.summarise(GEMM, [ok(10)], ports(n1=[ok(10)], n2=[ok(20)], n4=[ok(40)],
                                                        n8=[ok(66)]))
        mismatch = workloads.summarise(KV, [ok(1e6, "a")], ports(n1=[ok(1e6, "a")], n2=[ok(2e6, "z")],
                                                                 n4=[ok(3e6, "a")], n8=[ok(3e6, "a")]))
        dataframe = workloads.WORKLOADS_BY_NAME["dataframe"]
        return [(GEMM, met, None), (KV, mismatch, None), (dataframe, None, "not built")]

    def test_markdown_table_shows_speedups_failures_and_verdicts(self):
        table = workloads.markdown_table(self.rows(), "a CPU quota of 0.25 cores")
        lines = table.splitlines()
        gemm = next(line for line in lines if line.startswith("| GEMM "))
        kv = next(line for line in lines if line.startswith("| KV "))
        dataframe = next(line for line in lines if line.startswith("| DataFrame "))
        self.assertIn("| 1.00x | 2.00x | 4.00x | 6.60x | +0.0% | 6.5x | 5.93x | met |", gemm)
        self.assertIn("**checksum mismatch (z, original a)**", kv)
        self.assertIn("3.00x", kv)
        self.assertIn("**not met:", kv)
        self.assertIn("not built", dataframe)
        self.assertIn("6x | 5.57x | not met: not built", dataframe)
        self.assertIn("a CPU quota of 0.25 cores", table)
        self.assertNotIn("ran `", table)  # no workload here ran a second size
        # Every row has as many cells as the header.
        cells = {line.count("|") for line in lines if line.startswith("|")}
        self.assertEqual(len(cells), 1, table)

    def test_a_second_size_for_two_or_more_nodes_is_named_under_the_table(self):
        summary = workloads.summarise(KV, [ok(1.5e6, "long")], ports(n1=[ok(1.5e6, "long")], n2=[ok(3e4, "short")]),
                                      multi_node_original_runs=[ok(1.4e6, "short")])
        table = workloads.markdown_table([(KV, summary, None)], "a CPU quota of 0.25 cores")
        self.assertIn("KV: the original and the port on 1 node ran `" + " ".join(KV.bench_args) + "`", table)
        self.assertIn("the port on 2 to 8 nodes ran `" + " ".join(KV.multi_node_args) + "`", table)
        self.assertIn("(the original ran 1.4 M ops/s there)", table)

    def test_drun_options_for_two_or_more_nodes_are_named_under_the_table(self):
        summary = workloads.summarise(KV, [ok(1.5e6, "long")], ports(n1=[ok(1.5e6, "long")], n2=[ok(3e4, "short")]),
                                      multi_node_original_runs=[ok(1.4e6, "short")])
        table = workloads.markdown_table([(KV, summary, None)], "a CPU quota of 0.25 cores")
        self.assertIn("KV: the port on 2 to 8 nodes ran under `drun --cpu-bind spread`, on 1 node under "
                      "`drun (no extra options)`.", table)
        small = workloads.markdown_table([(KV, summary, None)], "a CPU quota of 0.25 cores", "small")
        self.assertNotIn("ran under `drun", small)

    def test_the_cpus_of_one_node_runs_are_named_under_the_table(self):
        summary = workloads.summarise(GEMM, [ok(38, "x")], ports(n1=[ok(37, "x")]))
        table = workloads.markdown_table([(GEMM, summary, None)], "a CPU quota of 0.25 cores", "bench", [0])
        self.assertIn("The original and the port on 1 node ran bound to CPU 0 (a machine", table)
        unbound = workloads.markdown_table([(GEMM, summary, None)], "a CPU quota of 0.25 cores", "bench")
        self.assertNotIn("ran bound to CPU", unbound)

    def test_demo_table_marks_a_mismatch(self):
        results = [(GEMM, ok(38, "x", 0.2), ok(19, "x", 1.2), None),
                   (KV, ok(2.89e6, "a", 0.2), ok(1.9e4, "b", 13.0), None),
                   (workloads.WORKLOADS_BY_NAME["socialnet"], None, None, "not built")]
        table = workloads.demo_table(results, 4).splitlines()
        self.assertEqual(len(table), 4)
        self.assertRegex(table[1], r"^gemm +x +x +yes +38 ops/s +19 ops/s +0.2 / 1.2$")
        self.assertRegex(table[2], r"^kvstore +a +b +NO +2.89 M ops/s +19 k ops/s")
        self.assertRegex(table[3], r"^socialnet +not built$")

    def test_history_check_line_says_the_verdict_and_the_timings(self):
        accepted = {"status": "ok", "verdict": "history ok: 2100000 operations on 100000 keys",
                    "run_wall_s": 41.2, "check_s": 2.7}
        line = workloads.history_markdown(accepted)
        self.assertIn("Linearizability at large size (KV port on 4 nodes, `" + " ".join(workloads.HISTORY_ARGS) + "`", line)
        self.assertIn("**ok**: `history ok: 2100000 operations on 100000 keys` (recorded in 41 s, checked in 2.7 s)", line)
        failed = workloads.history_markdown({"status": "the recording run timeout (> 600 s)"})
        self.assertIn("**the recording run timeout (> 600 s)**.", failed)

    def test_first_touch_is_read_and_said_with_page_reporting(self):
        text = ("first-touch: huge pages, fresh       0.66 GB/s     3199.1 us per 2 MiB\n"
                "first-touch: huge pages, reused     14.74 GB/s      142.3 us per 2 MiB\n"
                "first-touch: 4 KiB pages             0.40 GB/s       10.2 us per 4 KiB\n")
        cases = workloads.parse_first_touch(text)
        self.assertEqual(list(cases), ["huge pages, fresh", "huge pages, reused", "4 KiB pages"])
        self.assertEqual(cases["huge pages, reused"], {"gb_per_s": 14.74, "us_per_unit": 142.3, "unit": "2 MiB"})
        self.assertEqual(cases["4 KiB pages"]["unit"], "4 KiB")
        line = workloads.memory_markdown({"first_touch": cases,
                                          "page_reporting": {"virtio_balloon": True, "page_reporting_order": 9}})
        self.assertIn("huge pages, fresh 0.66 GB/s (3199.1 us per 2 MiB)", line)
        self.assertIn("free page reporting is on (order 9)", line)
        bare_metal = workloads.memory_markdown({"first_touch": cases, "page_reporting": None})
        self.assertNotIn("reporting", bare_metal)
        self.assertEqual(workloads.memory_markdown({"first_touch": None}), "")
        self.assertEqual(workloads.parse_first_touch("garbage\n"), {})

    def test_warm_memory_runs_nothing_at_zero_and_names_a_missing_tool(self):
        workloads.warm_memory("/nonexistent-build-dir", 0)  # no tool needed, nothing runs
        with self.assertRaisesRegex(SystemExit, "--warm-memory: cannot run /nonexistent-build-dir/samples/bench/first-touch"):
            workloads.warm_memory("/nonexistent-build-dir", 16)

    def test_format_throughput(self):
        self.assertEqual(workloads.format_throughput(6345100, "ops/s"), "6.35 M ops/s")
        self.assertEqual(workloads.format_throughput(18884, "ops/s"), "18.9 k ops/s")
        self.assertEqual(workloads.format_throughput(10.4154, "GFLOP/s"), "10.4 GFLOP/s")

    def test_unknown_workload_is_a_usage_error(self):
        with self.assertRaisesRegex(SystemExit, "unknown workload nope"):
            workloads.select_workloads("gemm,nope")
        self.assertEqual([w.name for w in workloads.select_workloads("kvstore,gemm")], ["kvstore", "gemm"])


class Plot(unittest.TestCase):
    def test_draws_a_png(self):
        if importlib.util.find_spec("matplotlib") is None:
            self.skipTest(f"{sys.executable} has no matplotlib (python3-matplotlib)")
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "plot.png"
            workloads.draw_plot(Tables().rows(), path, "test")
            self.assertEqual(path.read_bytes()[:8], b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    unittest.main()
