# MTREPLAY_SANITIZE=address builds everything with ASan+UBSan, =thread with TSan.
# Preload libraries (libmhook.so, the allocators' .so) cannot run under a sanitizer
# runtime inside an unsanitized program; tests that preload them check
# MTREPLAY_SANITIZE and skip themselves (they are covered by the normal build).
# -g1 after the build type's -g: line tables are all a sanitizer's report needs, and
# full debug info made each sanitizer build a third slower (TSan, 2 cores: 368 s -> 250 s).
if(MTREPLAY_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined -g1)
  add_link_options(-fsanitize=address,undefined)
elseif(MTREPLAY_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -g1)
  add_link_options(-fsanitize=thread)
elseif(NOT MTREPLAY_SANITIZE STREQUAL "")
  message(FATAL_ERROR "MTREPLAY_SANITIZE must be empty, address or thread")
endif()
