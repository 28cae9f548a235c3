from chatroom.cli import main

raise SystemExit(main())
