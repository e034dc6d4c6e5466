// pollux_micro: Google Benchmark's main; the benchmarks register
// themselves from the other files of bench/micro.
//
// Names: BM_asio_* are the raw-Asio baselines; BM_pollux_* are the pollux
// figures compared with them (bench/micro/report.py pairs them up).

#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
