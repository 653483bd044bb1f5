# csphub-gen: the seeded scenario generator (gen.c and the gen_*.c parts it
# is cut into, one concern a file; genpriv.h is what they share): a year of
# one borough's multi-agency feed as CSPH/1 JSON lines, for the demo, the
# tests (tests/test_gen.c) and load runs. Plain C11 and libm, and the hub's
# civil date arithmetic (common/timefmt.c, compiled in: it needs nothing
# else). Its vocabulary (vocab.c) is the one csphub-bench writes too.
# Included from bench/CMakeLists.txt: include(gen.cmake).
set(GEN_DIR ${CMAKE_CURRENT_LIST_DIR})
add_executable(csphub-gen ${GEN_DIR}/gen.c ${GEN_DIR}/gen_rng.c ${GEN_DIR}/gen_calendar.c ${GEN_DIR}/gen_people.c
  ${GEN_DIR}/gen_borough.c ${GEN_DIR}/gen_events.c ${GEN_DIR}/gen_scenarios.c ${GEN_DIR}/gen_background.c
  ${GEN_DIR}/gen_delivery.c ${GEN_DIR}/gen_writer.c ${GEN_DIR}/vocab.c ${GEN_DIR}/../common/timefmt.c)
target_include_directories(csphub-gen PRIVATE ${GEN_DIR}/../common)
target_link_libraries(csphub-gen PRIVATE m)
