import sys

from scorehmr_research.cli import main

sys.exit(main())
