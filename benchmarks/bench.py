"""Run the benchmark (``make bench``); the code is in prophet_grouped/benchmark/ so that the
``prophet-grouped bench`` command has it too. ``python benchmarks/bench.py --help`` for options."""

from prophet_grouped.benchmark.run import main

if __name__ == "__main__":
    main()
