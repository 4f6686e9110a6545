//! Setup of question 9 (tasks, models, measurements used only by its experiment).
