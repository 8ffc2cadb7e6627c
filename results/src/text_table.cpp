#include "mtreplay/results/text_table.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace mtreplay::results {

size_t display_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void TextTable::add_column(std::string header, Align align) {
  headers_.push_back(std::move(header));
  aligns_.push_back(align);
}

void TextTable::add_row(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back({std::move(cells), false});
}

void TextTable::add_note_row(std::string first_cell, std::string text) {
  rows_.push_back({{std::move(first_cell), std::move(text)}, true});
}

namespace {

std::string pad(const std::string& s, size_t width, TextTable::Align align) {
  size_t w = display_width(s);
  std::string fill(width > w ? width - w : 0, ' ');
  return align == TextTable::Align::kLeft ? s + fill : fill + s;
}

std::string escape_markdown(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string TextTable::to_text() const {
  std::vector<size_t> width(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) width[c] = display_width(headers_[c]);
  for (const auto& r : rows_) {
    size_t cols = r.note ? 1 : r.cells.size();
    for (size_t c = 0; c < cols; ++c) width[c] = std::max(width[c], display_width(r.cells[c]));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c) out += "  ";
      out += pad(cells[c], width[c], aligns_[c]);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(headers_);
  for (const auto& r : rows_) {
    if (r.note)
      out += fmt::format("{}  {}\n", pad(r.cells[0], width[0], aligns_[0]), r.cells[1]);
    else
      out += line(r.cells);
  }
  return out;
}

std::string TextTable::to_markdown() const {
  std::string out = "|";
  for (const auto& h : headers_) out += fmt::format(" {} |", escape_markdown(h));
  out += "\n|";
  for (auto a : aligns_) out += a == Align::kLeft ? " :--- |" : " ---: |";
  out += "\n";
  for (const auto& r : rows_) {
    out += "|";
    if (r.note) {
      out += fmt::format(" {} | {} |", escape_markdown(r.cells[0]), escape_markdown(r.cells[1]));
      for (size_t c = 2; c < headers_.size(); ++c) out += " |";
    } else {
      for (const auto& cell : r.cells) out += fmt::format(" {} |", escape_markdown(cell));
    }
    out += "\n";
  }
  return out;
}

}  // namespace mtreplay::results
