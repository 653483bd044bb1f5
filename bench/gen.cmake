# csphub-gen: the seeded scenario generator (gen.c): a year of one borough's
# multi-agency feed as CSPH/1 JSON lines, for the demo, the tests
# (tests/test_gen.c) and load runs. Plain C11 and libm, and the hub's civil
# date arithmetic (common/timefmt.c, compiled in: it needs nothing else).
# Included from bench/CMakeLists.txt: include(gen.cmake).
add_executable(csphub-gen ${CMAKE_CURRENT_LIST_DIR}/gen.c ${CMAKE_CURRENT_LIST_DIR}/../common/timefmt.c)
target_include_directories(csphub-gen PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../common)
target_link_libraries(csphub-gen PRIVATE m)
