// Every sentence the phone app shows, in Vietnamese (the default) and English,
// and the one switch between them. Form labels come from the form itself as
// {vi, en} objects; `pick` chooses from those.

const STRINGS = {
  app_name: { vi: 'Sổ tay khảo sát', en: 'Survey notebook' },
  switch_lang: { vi: 'English', en: 'Tiếng Việt' },
  username: { vi: 'Tên đăng nhập', en: 'Username' },
  password: { vi: 'Mật khẩu', en: 'Password' },
  log_in: { vi: 'Đăng nhập', en: 'Log in' },
  log_out: { vi: 'Đăng xuất', en: 'Log out' },
  logout_offline: {
    vi: 'Đang không có mạng: sau khi đăng xuất, phải có mạng mới đăng nhập lại được.',
    en: 'You are offline: after logging out you need a connection to log in again.',
  },
  logout_unsynced: {
    vi: 'Trên máy còn {surveys} phiếu chưa đồng bộ và {drafts} phiếu nháp. Chúng vẫn nằm trên máy này và chỉ được gửi khi bạn đăng nhập lại.',
    en: 'This phone holds {surveys} unsynced surveys and {drafts} drafts. They stay on this phone and are sent only when you log in again.',
  },
  logout_anyway: { vi: 'Vẫn đăng xuất?', en: 'Log out anyway?' },
  space_left: {
    vi: 'Bộ nhớ còn trống cho ứng dụng: {free}.', en: 'Storage left for the app: {free}.',
  },
  storage_not_persisted: {
    vi: 'Trình duyệt chưa cho giữ dữ liệu lâu dài: hãy đồng bộ thường xuyên.',
    en: 'The browser has not granted lasting storage: sync often.',
  },
  storage_full: {
    vi: 'Bộ nhớ của máy đã đầy nên không lưu được. Những gì đã lưu vẫn còn. Hãy đồng bộ, xóa bớt ảnh hoặc ứng dụng khác rồi thử lại.',
    en: 'The phone’s storage is full, so nothing could be saved. What was saved is safe. Sync, delete some photos or other apps, then try again.',
  },
  screen_failed: {
    vi: 'Không mở được màn hình này ({detail}). Dữ liệu trên máy vẫn an toàn.',
    en: 'This screen could not open ({detail}). The data on the phone is safe.',
  },
  retry: { vi: 'Thử lại', en: 'Try again' },
  jump_to: { vi: 'Đến trang', en: 'Go to page' },
  final_unsent_note: {
    vi: 'Phiếu đã hoàn thành nhưng chưa gửi: bạn vẫn sửa được cho đến khi đồng bộ.',
    en: 'This survey is finalised but not yet sent: you can still correct it until it syncs.',
  },
  reopen: { vi: 'Sửa lại phiếu', en: 'Reopen to correct' },
  reopened_note: {
    vi: 'Đang sửa phiếu đã hoàn thành. Khi bạn rời phiếu mà không còn lỗi, phiếu tự hoàn thành lại; còn lỗi thì thành phiếu nháp.',
    en: 'Correcting a finalised survey. When you leave it with no errors it is finalised again; with errors it becomes a draft.',
  },
  final_sent_note: {
    vi: 'Phiếu đã gửi lên phường nên không sửa trên máy được nữa. Nếu cần sửa, cán bộ sẽ trả phiếu lại cho bạn.',
    en: 'This survey has been sent to the ward, so it can no longer be changed on the phone. If it needs correcting, the staff will send it back to you.',
  },
  login_first_online: {
    vi: 'Lần đầu cần có mạng để đăng nhập và tải biểu mẫu.',
    en: 'The first login needs a connection to download the forms.',
  },
  login_again: {
    vi: 'Phiên đăng nhập đã hết hạn. Đăng nhập lại để đồng bộ; dữ liệu trên máy vẫn còn nguyên.',
    en: 'Your session has expired. Log in again to sync; the data on this phone is safe.',
  },
  login_failed: { vi: 'Sai tên đăng nhập hoặc mật khẩu.', en: 'Wrong username or password.' },
  login_throttled: {
    vi: 'Đăng nhập sai quá nhiều lần. Hãy thử lại sau {minutes} phút; nếu quên mật khẩu, hãy liên hệ cán bộ phường.',
    en: 'Too many failed logins. Try again in {minutes} min; if you forgot the password, ask the ward office.',
  },
  login_busy: {
    vi: 'Máy chủ đang bận xử lý nhiều lượt đăng nhập; hãy thử lại sau ít giây.',
    en: 'The server is busy with many logins; try again in a few seconds.',
  },
  offline: { vi: 'Không có mạng', en: 'Offline' },
  online: { vi: 'Có mạng', en: 'Online' },
  tab_surveys: { vi: 'Phiếu', en: 'Surveys' },
  tab_sync: { vi: 'Đồng bộ', en: 'Sync' },
  tab_progress: { vi: 'Tiến độ', en: 'Progress' },
  no_forms: {
    vi: 'Chưa có biểu mẫu. Kết nối mạng rồi bấm Đồng bộ.',
    en: 'No forms yet. Connect and press Sync.',
  },
  no_surveys: { vi: 'Chưa có phiếu nào.', en: 'No surveys yet.' },
  status_draft: { vi: 'Nháp', en: 'Draft' },
  status_final: { vi: 'Đã hoàn thành', en: 'Finalised' },
  status_needs_correction: { vi: 'Cần sửa', en: 'Needs correction' },
  status_approved: { vi: 'Đã duyệt', en: 'Approved' },
  status_rejected: { vi: 'Bị từ chối', en: 'Rejected' },
  unsynced_badge: { vi: 'chưa đồng bộ', en: 'not synced' },
  reviewer_comment: { vi: 'Nhận xét của cán bộ', en: "Reviewer's comment" },
  correct_survey: { vi: 'Sửa phiếu', en: 'Correct survey' },
  back: { vi: 'Quay lại', en: 'Back' },
  next: { vi: 'Tiếp', en: 'Next' },
  previous: { vi: 'Trước', en: 'Previous' },
  page_of: { vi: 'Trang {n}/{total}', en: 'Page {n} of {total}' },
  finalise: { vi: 'Hoàn thành phiếu', en: 'Finalise survey' },
  finalised_msg: {
    vi: 'Phiếu đã hoàn thành và sẽ được gửi khi đồng bộ.',
    en: 'The survey is finalised and will be sent at the next sync.',
  },
  fix_errors: {
    vi: 'Còn {n} câu cần sửa. Xem các câu được đánh dấu đỏ.',
    en: '{n} answers need attention. See the ones marked in red.',
  },
  saved: { vi: 'Đã lưu trên máy', en: 'Saved on this phone' },
  discard_draft: { vi: 'Bỏ phiếu nháp này', en: 'Discard this draft' },
  confirm_discard: {
    vi: 'Xóa hẳn phiếu nháp này và ảnh của nó khỏi máy?',
    en: 'Delete this draft and its photos from the phone for good?',
  },
  saving: { vi: 'Đang lưu…', en: 'Saving…' },
  save_failed: {
    vi: 'KHÔNG lưu được trên máy (bộ nhớ đầy?). Đừng đóng ứng dụng; giải phóng bộ nhớ rồi thử lại.',
    en: 'Could NOT save on this phone (storage full?). Do not close the app; free some space and retry.',
  },
  required: { vi: 'Câu này bắt buộc.', en: 'This answer is required.' },
  invalid_integer: { vi: 'Nhập một số nguyên.', en: 'Enter a whole number.' },
  invalid_decimal: { vi: 'Nhập một số.', en: 'Enter a number.' },
  invalid_value: { vi: 'Giá trị không hợp lệ.', en: 'Invalid value.' },
  invalid_phone: { vi: 'Số di động Việt Nam không hợp lệ.', en: 'Not a valid Vietnamese mobile number.' },
  text_too_long: { vi: 'Dài quá {value} ký tự.', en: 'Longer than {value} characters.' },
  broken_text: {
    vi: 'Có ký tự hỏng (thường do cắt giữa một biểu tượng); hãy gõ lại.',
    en: 'Holds a broken character (usually an emoji cut in two); type it again.',
  },
  too_many_photos: { vi: 'Nhiều nhất {value} ảnh.', en: 'At most {value} photos.' },
  too_few_photos: { vi: 'Cần ít nhất {value} ảnh.', en: 'At least {value} photos are needed.' },
  row_count: { vi: 'Cần đúng {count} mục.', en: 'Exactly {count} entries are needed.' },
  acknowledge: { vi: 'Đã xem, đồng ý', en: 'OK, acknowledged' },
  scan_barcode: { vi: 'Quét mã', en: 'Scan code' },
  scan_failed: { vi: 'Không đọc được mã, hãy gõ vào.', en: 'No code found; please type it.' },
  form_language: { vi: 'Ngôn ngữ biểu mẫu', en: 'Form language' },
  too_few_rows: { vi: 'Cần ít nhất {value} mục.', en: 'At least {value} entries are needed.' },
  too_many_rows: { vi: 'Nhiều nhất {value} mục.', en: 'At most {value} entries.' },
  add_row: { vi: 'Thêm', en: 'Add' },
  remove_row: { vi: 'Xóa', en: 'Remove' },
  confirm_remove_row: { vi: 'Xóa mục này?', en: 'Remove this entry?' },
  row_n: { vi: 'Mục {n}', en: 'Entry {n}' },
  take_photo: { vi: 'Chụp ảnh', en: 'Take photo' },
  remove_photo: { vi: 'Xóa ảnh', en: 'Remove photo' },
  photo_processing: { vi: 'Đang xử lý ảnh…', en: 'Processing photo…' },
  photo_failed: { vi: 'Không đọc được ảnh này.', en: 'This photo could not be read.' },
  get_location: { vi: 'Lấy vị trí', en: 'Get location' },
  location_failed: { vi: 'Không lấy được vị trí.', en: 'Could not get the location.' },
  sync_now: { vi: 'Đồng bộ ngay', en: 'Sync now' },
  syncing: { vi: 'Đang đồng bộ…', en: 'Syncing…' },
  sync_done_sent: {
    vi: 'Đồng bộ xong: đã gửi {surveys} phiếu và {photos} ảnh.',
    en: 'Sync complete: sent {surveys} surveys and {photos} photos.',
  },
  sync_done_nothing: {
    vi: 'Đồng bộ xong: không có phiếu mới để gửi.', en: 'Sync complete: no new surveys to send.',
  },
  sync_done_received: {
    vi: 'Đã nhận {n} cập nhật từ phường.', en: 'Received {n} updates from the ward.',
  },
  sync_offline: {
    vi: 'Không có mạng. Dữ liệu vẫn an toàn trên máy; sẽ tự đồng bộ khi có mạng.',
    en: 'No connection. Your data is safe on this phone and will sync when the connection returns.',
  },
  sync_failed: {
    vi: 'Đồng bộ chưa xong ({detail}). Dữ liệu vẫn an toàn trên máy; hãy thử lại.',
    en: 'Sync did not finish ({detail}). Your data is safe on this phone; try again.',
  },
  sync_forbidden: {
    vi: 'Tài khoản này không được phép đồng bộ. Hãy liên hệ cán bộ phường.',
    en: 'This account may not sync. Contact the ward office.',
  },
  unsynced_title: { vi: 'Chưa đồng bộ', en: 'Not yet synced' },
  unsynced_surveys: { vi: 'Phiếu', en: 'Surveys' },
  unsynced_photos: { vi: 'Ảnh', en: 'Photos' },
  unsynced_size: { vi: 'Dung lượng', en: 'Size' },
  drafts_on_phone: {
    vi: 'Phiếu nháp (chỉ gửi khi hoàn thành)', en: 'Drafts (sent once finalised)',
  },
  last_sync: { vi: 'Lần đồng bộ gần nhất', en: 'Last successful sync' },
  never: { vi: 'Chưa bao giờ', en: 'Never' },
  sync_progress: { vi: 'Đã gửi {done}/{total}', en: 'Sent {done} of {total}' },
  sync_receiving: { vi: 'Đang nhận dữ liệu…', en: 'Receiving…' },
  progress_week: { vi: 'Phiếu hoàn thành tuần này', en: 'Surveys finalised this week' },
  progress_total: { vi: 'Tổng số phiếu hoàn thành', en: 'All finalised surveys' },
  progress_drafts: { vi: 'Phiếu nháp', en: 'Drafts' },
  progress_by_group: { vi: 'Theo tổ dân phố', en: 'By residential group' },
  assigned: { vi: 'được giao', en: 'assigned' },
  group: { vi: 'Tổ', en: 'Group' },
  count: { vi: 'Số phiếu', en: 'Surveys' },
  signed_in_as: { vi: 'Đăng nhập: {name}', en: 'Signed in: {name}' },
  unknown_form: {
    vi: 'Máy chưa có biểu mẫu của phiếu này. Hãy đồng bộ.',
    en: 'This survey’s form is not on the phone yet. Please sync.',
  },
};

let lang = localStorage.getItem('sotay.lang') || 'vi';

export function getLang() {
  return lang;
}

export function setLang(value) {
  lang = value === 'en' ? 'en' : 'vi';
  localStorage.setItem('sotay.lang', lang);
  document.documentElement.lang = lang;
}

// The form language the volunteer chose, for forms in languages besides vi and en.
let formLang = localStorage.getItem('sotay.formLang');

export function setFormLang(code) {
  formLang = code;
  localStorage.setItem('sotay.formLang', code);
}

// A form's languages as shown: Vietnamese first when it has it (forms/model.py languages).
export function formLanguages(definition) {
  const codes = definition?.languages || ['vi', 'en'];
  return [...codes].sort((a, b) => (a !== 'vi') - (b !== 'vi'));
}

// A text of the app or of a form: {vi, en, ...} or a plain string; in the chosen
// language, else Vietnamese, else the first language the text has.
export function pick(label) {
  if (label == null) return '';
  if (typeof label === 'string') return label;
  return label[lang] ?? label.vi ?? Object.values(label)[0] ?? '';
}

// A text of a form, in the form language chosen on its screen when it has that one.
export function pickForm(label) {
  if (label && typeof label === 'object' && formLang && label[formLang] !== undefined) {
    return label[formLang];
  }
  return pick(label);
}

export function t(key, params = {}) {
  const text = pick(STRINGS[key]) || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ''));
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function formatTime(iso) {
  if (!iso) return t('never');
  return new Date(iso).toLocaleString(lang === 'vi' ? 'vi-VN' : 'en-GB');
}
