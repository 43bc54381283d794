"""python -m archprof: the same CLI as the archprof command."""
from archprof.cli import main

main()
