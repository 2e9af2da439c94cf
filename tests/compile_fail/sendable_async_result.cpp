// Refused: an async result of a std smart pointer cannot travel back.
#include <drust/std/future>
#include <memory>
void refused() {
  auto f = drust::std::async([] { return std::make_unique<int>(1); });
  static_cast<void>(f);
}
