# The two commands: `make run` and `make test`. Both install what is missing first.
.PHONY: run test build deps media bench check-config clean

CONFIG ?= plugins.json

run: deps media build
	.build/release/gateway serve --config $(CONFIG)

test: deps
	./scripts/test.sh

deps:
	./scripts/install-deps.sh

media: deps
	./scripts/make-demo-media.sh media/demo.mp4

build: deps
	swift build -c release --product gateway

check-config: build
	.build/release/gateway check-config $(CONFIG)

bench: deps
	./Benchmarks/run.sh

clean:
	rm -rf .build data
