import sys

from agentdesk.cli import main

sys.exit(main())
