from efitables.cli import main

main()
