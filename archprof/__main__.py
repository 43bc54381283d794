"""python -m archprof: the same CLI as the archprof command."""
from archprof.cli import main

if __name__ == "__main__":      # a sweep's worker processes import this module again
    main()
