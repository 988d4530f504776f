# The lab's two commands (see README.md). Each sets the machine up first when needed.
.PHONY: run test fuzz setup frontend bench

run:            ## set up, build (release) and start the whole lab; dashboard on :8080
	@scripts/run.sh

test:           ## set up and run every test
	@scripts/test.sh

fuzz:           ## fuzz the parsers for longer (FUZZ_SECONDS each, default 60)
	@scripts/fuzz.sh

setup:          ## only the set-up (idempotent)
	@scripts/setup.sh

frontend:       ## only the dashboard build
	@scripts/build-frontend.sh

bench:          ## start the lab, load every service with wrk, print a table
	@scripts/bench.sh
