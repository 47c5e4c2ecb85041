from bench.jobs.speed.cli import main

main()
