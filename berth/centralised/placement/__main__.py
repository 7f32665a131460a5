"""`python -m berth.centralised.placement`: see `berth.centralised.placement.server`."""

from berth.centralised.placement.server import main

main()
