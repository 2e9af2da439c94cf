// Refused: a class that is not trivially copyable (its copy does something) and did not opt in.
#include <drust/relocatable>

class registered {
 public:
  registered() = default;
  registered(const registered& other) : id_(other.id_ + 1) {}
  int id() const { return id_; }

 private:
  int id_ = 0;
};

void refused() { drust::detail::require_relocatable<registered>(); }
