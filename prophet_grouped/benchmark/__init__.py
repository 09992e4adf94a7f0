"""The benchmark behind ``make bench`` and ``prophet-grouped bench`` (needs the ``[bench]`` extra)."""
