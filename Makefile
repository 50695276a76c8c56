# The two commands a newcomer needs: `make run` and `make test`.
# Everything else (cmake, ctest) sits behind these.
BUILD      ?= build
TEST_BUILD ?= build-asan
PORT       ?= 8080
ADMIN_PORT ?= 8081
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build install run test fuzz bench clean format

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# kumo, kumo-worker, kumo-host, kumo-lambda, kumo-http, kumo.h, the docs and the bash completion
# under $(PREFIX) (staged under $(DESTDIR) when set): docs/getting-started.md.
install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)

run: build
	$(BUILD)/kumo up examples/todo --port $(PORT) --admin-port $(ADMIN_PORT)

test: deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSANITIZE=address,undefined >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
		ctest --output-on-failure -j $(JOBS)

fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DFUZZ=ON -DSANITIZE=address,undefined >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@for f in build-fuzz/fuzz_*; do \
		name=$$(basename $$f); corpus=fuzz/corpus/$${name#fuzz_}; \
		case $$name in fuzz_replay_*) continue;; esac; \
		echo "== $$name ($${FUZZ_SECONDS:-30}s, corpus $$corpus)"; \
		mkdir -p build-fuzz/corpus-$$name; \
		$$f -max_total_time=$${FUZZ_SECONDS:-30} build-fuzz/corpus-$$name $$corpus || exit 1; \
	done

bench: build
	./bench/throughput.sh

# Lays out every C file as .clang-format says (tests/style/check_format.sh,
# run by `make test`, fails on a deviation).
format: deps
	@git ls-files 'src/*.[ch]' 'include/*.h' 'tests/unit/*.[ch]' 'fuzz/*.c' 'bench/*.c' 'examples/*.c' | \
		grep -v '^src/gateway/\(docs\|dashboard\)_page.c$$' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(TEST_BUILD) build-fuzz
