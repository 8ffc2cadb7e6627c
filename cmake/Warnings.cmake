# Applied per target with mtreplay_warnings(target): third-party headers stay quiet.
function(mtreplay_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()
