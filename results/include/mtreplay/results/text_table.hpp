// A table rendered either as aligned plain text (the terminal) or as a GitHub
// Markdown table: compare and diff build one and print it both ways.
#pragma once

#include <string>
#include <vector>

namespace mtreplay::results {

class TextTable {
 public:
  enum class Align { kLeft, kRight };
  void add_column(std::string header, Align align = Align::kRight);
  void add_row(std::vector<std::string> cells);  // short rows are padded with ""
  // One line standing alone across the table (a crashed backend's message).
  void add_note_row(std::string first_cell, std::string text);

  std::string to_text() const;
  std::string to_markdown() const;
  size_t rows() const { return rows_.size(); }

 private:
  struct Row {
    std::vector<std::string> cells;
    bool note = false;
  };
  std::vector<std::string> headers_;
  std::vector<Align> aligns_;
  std::vector<Row> rows_;
};

// Width in terminal columns of UTF-8 text (counts code points; our cells hold no wide
// characters).
size_t display_width(const std::string& s);

}  // namespace mtreplay::results
